import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { boundedParser } from '../../src/socket/parser.js';

const root = resolve(import.meta.dirname, '../..');
const json = (path: string) => JSON.parse(readFileSync(resolve(root, path), 'utf8'));

describe('the bounded Socket.IO parser', () => {
  it('is the parser socket.io itself asks for: the same range, one copy installed', () => {
    // roomcast passes socket.io-parser to Socket.IO (its `parser` option): a socket.io that moves to
    // another parser would otherwise keep running this one.
    const ours = json('package.json').dependencies['socket.io-parser'];
    expect(ours).toBe(json('node_modules/socket.io/package.json').dependencies['socket.io-parser']);
    // socket.io resolves the copy at the top, the one roomcast imports (no nested one of its own).
    const require = createRequire(resolve(root, 'node_modules/socket.io/package.json'));
    expect(require.resolve('socket.io-parser')).toBe(
      createRequire(resolve(root, 'package.json')).resolve('socket.io-parser'),
    );
  });

  it('decodes what Socket.IO sends, and refuses an ack id past the safe integers and attachments past the bound', () => {
    const { Decoder } = boundedParser(10);
    const ok = new Decoder();
    const got: unknown[] = [];
    ok.on('decoded', (p) => got.push(p));
    ok.add('21["e",1]');
    ok.add('51-2["e",{"_placeholder":true,"num":0}]');
    ok.add(Buffer.alloc(10));
    expect(got).toHaveLength(2);
    expect(() => new Decoder().add('21000000000000000000000["e"]')).toThrow(/safe integer/);
    // Wherever the id is: after a namespace, after a binary packet's attachment count.
    expect(() => new Decoder().add('2/chat,99999999999999999["e"]')).toThrow(/safe integer/);
    expect(() => new Decoder().add('51-99999999999999999["e",{"_placeholder":true,"num":0}]')).toThrow(
      /safe integer/,
    );
    const edge = new Decoder();
    const ids: unknown[] = [];
    edge.on('decoded', (p) => ids.push(p.id));
    edge.add('29007199254740991["e"]');
    edge.add('2/chat,7["e"]');
    expect(ids).toEqual([9007199254740991, 7]);
    expect(() => new Decoder().add('29007199254740992["e"]')).toThrow(/safe integer/);
    // The decoder reads whitespace in an id as part of it (Number(' ') is 0): 1e20 and NaN.
    expect(() => new Decoder().add('2 99999999999999999999["e"]')).toThrow(/safe integer/);
    expect(() => new Decoder().add('21 2["e"]')).toThrow(/safe integer/);
    const spaced = new Decoder();
    const spacedIds: unknown[] = [];
    spaced.on('decoded', (p) => spacedIds.push(p.id));
    spaced.add('2 7["e"]');
    expect(spacedIds).toEqual([7]);
    const big = new Decoder();
    big.add('52-["e",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]');
    big.add(Buffer.alloc(6));
    expect(() => big.add(Buffer.alloc(5))).toThrow(/attachments passed 10 bytes/);
  });
});
