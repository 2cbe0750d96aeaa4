import { describe, expect, it } from 'vitest';
import { binaryParts, holdsBinary, MAX_PAYLOAD_DEPTH, payloadSize } from '../../src/rooms/payload.js';

/** `[[...[]...]]`, `levels` arrays deep. */
function nested(levels: number): unknown {
  let v: unknown = [];
  for (let i = 1; i < levels; i++) v = [v];
  return v;
}

describe('payloadSize', () => {
  it('refuses strings and field names that are not well-formed UTF-16 (lone surrogates)', () => {
    for (const bad of ['\ud800', ['ok', 'a\udfffb'], { k: { deeper: '\udc00\udc00' } }, { 'key\ud800': 1 }]) {
      expect(() => payloadSize(bad), JSON.stringify(bad)).toThrow(
        expect.objectContaining({ code: 'bad_request', message: expect.stringContaining('UTF-16') }),
      );
    }
    expect(payloadSize('😀')).toBe(6); // a surrogate pair is well formed: 4 bytes of UTF-8
    expect(() => payloadSize({ file: Buffer.alloc(1), name: '\ud800' })).toThrow(/UTF-16/);
  });

  it('refuses numbers JSON cannot carry (Infinity, NaN), wherever they are', () => {
    for (const bad of [Number.POSITIVE_INFINITY, [1, Number.NaN], { a: { b: Number.NEGATIVE_INFINITY } }]) {
      expect(() => payloadSize(bad), String(bad)).toThrow(
        expect.objectContaining({ code: 'bad_request', message: expect.stringContaining('Infinity or NaN') }),
      );
    }
    expect(payloadSize([1.5, -0, 1e308])).toBe(14); // [1.5,0,1e+308]
  });

  it('counts the bytes of the JSON', () => {
    expect(payloadSize(null)).toBe(4);
    expect(payloadSize({ text: 'hi' })).toBe(13);
    expect(payloadSize('é')).toBe(4); // two quotes and two bytes of UTF-8
    expect(payloadSize([1, 2, 3])).toBe(7);
  });

  it('counts binary parts by their length, wherever they are', () => {
    expect(payloadSize(Buffer.alloc(1000))).toBe(1000);
    expect(payloadSize({ file: Buffer.alloc(1000) })).toBe(1000 + '{"file":}'.length);
    expect(payloadSize([new Uint8Array(10), new ArrayBuffer(20)])).toBe(30 + '[,]'.length);
    expect(payloadSize({ a: { b: [Buffer.alloc(5)] } })).toBe(5 + '{"a":{"b":[]}}'.length);
  });

  it(`takes ${MAX_PAYLOAD_DEPTH} levels of nesting and refuses more with bad_request, at any depth`, () => {
    expect(payloadSize(nested(MAX_PAYLOAD_DEPTH))).toBe(2 * MAX_PAYLOAD_DEPTH);
    expect(() => payloadSize(nested(MAX_PAYLOAD_DEPTH + 1))).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    );
    // Deep enough to overflow JSON.stringify's stack: refused before any JSON work.
    expect(() => payloadSize({ a: nested(50_000) })).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    );
    expect(() => payloadSize({ b: Buffer.alloc(1), a: nested(50_000) })).toThrow(
      expect.objectContaining({ code: 'bad_request' }),
    );
  });

  it('refuses a Socket.IO binary placeholder look-alike, and only that', () => {
    const fake = { a: [{ _placeholder: true, num: 0 }] };
    expect(() => payloadSize(fake)).toThrow(expect.objectContaining({ code: 'bad_request' }));
    expect(payloadSize({ _placeholder: false, num: 0 })).toBe(30);
    expect(payloadSize({ _placeholder: 'true' })).toBe(23);
  });

  it('does not take a look-alike object for binary', () => {
    const fake = { type: 'Buffer', data: [1, 2, 3] };
    expect(payloadSize(fake)).toBe(JSON.stringify(fake).length);
  });
});

describe('binaryParts', () => {
  it('counts ArrayBuffers and views anywhere in the data, and nothing else', () => {
    const data = {
      a: Buffer.from([1]),
      list: [new Uint8Array(2), { deep: new ArrayBuffer(3) }, 'text', 7, null],
      view: new DataView(new ArrayBuffer(4)),
      obj: { type: 'Buffer', data: [1, 2] },
    };
    expect(binaryParts(data)).toBe(4);
    expect(binaryParts({ text: 'none' })).toBe(0);
    expect(binaryParts(Buffer.alloc(1))).toBe(1);
    expect(holdsBinary(data)).toBe(true);
    expect(holdsBinary([1, [2, [3]]])).toBe(false);
  });

  it('stops counting at `enough`', () => {
    const many = Array.from({ length: 50 }, () => Buffer.alloc(1));
    expect(binaryParts(many, 11)).toBe(11);
    expect(binaryParts(many)).toBe(50);
  });
});
