import { encode } from 'notepack.io';
import { describe, expect, it } from 'vitest';
import {
  historyItemHead,
  packDraft,
  packPresence,
  unpackChannelItem,
  unpackHistoryItem,
} from '../../src/backends/redis-codec.js';
import type { Draft } from '../../src/rooms/engine.js';
import { checkValue, MAX_PAYLOAD_DEPTH } from '../../src/rooms/payload.js';

const draft: Draft = {
  id: 'id-1',
  room: 'chat:1',
  event: 'msg',
  data: { text: 'hi | there', bytes: Buffer.from([0x7c, 0, 255]) },
  ts: 1_700_000_000_000,
  from: { sub: 'alice', info: { name: 'A|B' } },
};

describe('redis codec', () => {
  it('reads back a history item as the script writes it, binary parts as bytes', () => {
    const item = Buffer.concat([Buffer.from('42|1700000000000|'), packDraft(draft)]);
    expect(historyItemHead(item)).toEqual({ offset: 42, ts: 1_700_000_000_000 });
    const envelope = unpackHistoryItem(item, 'ep');
    expect(envelope).toEqual({ ...draft, offset: 42, epoch: 'ep' });
    expect(Buffer.isBuffer((envelope.data as { bytes: Buffer }).bytes)).toBe(true);
  });

  it('reads back numbers past 64 bits unchanged, and a draft an older node packed with notepack', () => {
    const data = {
      big: 1e20,
      huge: -1e300,
      top: 2 ** 64,
      low: -(2 ** 63) - 4096,
      safe: 2 ** 53 - 1,
      half: 0.5,
    };
    const numbers = { ...draft, data, from: { sub: 'alice', info: { score: 6.02214076e23 } } };
    const item = (packed: Buffer) => Buffer.concat([Buffer.from('1|1700000000000|'), packed]);
    expect(unpackHistoryItem(item(packDraft(numbers)), 'ep')).toEqual({ ...numbers, offset: 1, epoch: 'ep' });
    expect(unpackHistoryItem(item(encode(draft)), 'ep')).toEqual({ ...draft, offset: 1, epoch: 'ep' });
  });

  it('packs data and info nested as deep as the payload check lets through', () => {
    const nest = (levels: number): unknown => {
      let v: unknown = 'core';
      for (let i = 0; i < levels; i++) v = [v];
      return v;
    };
    const deep = nest(MAX_PAYLOAD_DEPTH);
    expect(() => checkValue(deep)).not.toThrow();
    expect(() => checkValue(nest(MAX_PAYLOAD_DEPTH + 1))).toThrow();
    const item = Buffer.concat([
      Buffer.from('1|1700000000000|'),
      packDraft({ ...draft, data: deep, from: { sub: 'alice', info: deep } }),
    ]);
    expect(unpackHistoryItem(item, 'ep')).toMatchObject({ data: deep, from: { info: deep } });
    const event = { room: 'chat:1', action: 'join' as const, member: { sub: 'bob', info: deep } };
    expect(unpackChannelItem(packPresence(event, undefined))).toMatchObject({ event });
  });

  it('reads back a channel message as the script writes it, with and without except', () => {
    const message = (except: string) => Buffer.concat([Buffer.from(`m|ep|7|${except}|`), packDraft(draft)]);
    expect(unpackChannelItem(message('sock-1'))).toEqual({
      kind: 'message',
      envelope: { ...draft, offset: 7, epoch: 'ep' },
      except: 'sock-1',
    });
    expect(unpackChannelItem(message(''))).toMatchObject({ kind: 'message', except: undefined });
  });

  it('builds the envelope in envelope order, with the envelope fields only', () => {
    const extra = Buffer.concat([Buffer.from('m|ep|7||'), encode({ ...draft, injected: true })]);
    const item = unpackChannelItem(extra);
    const envelope = item?.kind === 'message' ? item.envelope : null;
    expect(Object.keys(envelope ?? {})).toEqual([
      'id',
      'room',
      'event',
      'data',
      'ts',
      'from',
      'offset',
      'epoch',
    ]);
  });

  it('reads back a presence event', () => {
    const event = { room: 'chat:1', action: 'join' as const, member: { sub: 'bob', info: null } };
    expect(unpackChannelItem(packPresence(event, 'x'))).toEqual({ kind: 'presence', event, except: 'x' });
    expect(unpackChannelItem(packPresence(event, undefined))).toEqual({
      kind: 'presence',
      event,
      except: undefined,
    });
  });

  it('answers null for what it cannot read', () => {
    expect(unpackChannelItem(Buffer.from('x|what'))).toBeNull();
    expect(unpackChannelItem(Buffer.from('m|ep|7'))).toBeNull();
    expect(unpackChannelItem(Buffer.from('p|nobar'))).toBeNull();
    expect(unpackChannelItem(Buffer.alloc(0))).toBeNull();
    expect(unpackChannelItem(Buffer.from([...Buffer.from('m|ep|7||'), 0xc1, 0xff]))).toBeNull();
    expect(unpackChannelItem(Buffer.concat([Buffer.from('m|ep|7||'), encode(5)]))).toBeNull();
    expect(unpackChannelItem(Buffer.concat([Buffer.from('p||'), encode('x')]))).toBeNull();
    // Offsets roomcast's script never writes: not a whole number from 1.
    for (const offset of ['NaN', 'Infinity', '-1', '0', '1.5', '', '9007199254740993']) {
      expect(
        unpackChannelItem(Buffer.concat([Buffer.from(`m|ep|${offset}||`), packDraft(draft)])),
      ).toBeNull();
    }
    expect(encode(1)).toBeInstanceOf(Buffer);
  });
});
