import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import { selectHistory } from '../../src/rooms/engine.js';

const EPOCH = 'ep1';

function envelopes(from: number, to: number): Envelope[] {
  const out: Envelope[] = [];
  for (let offset = from; offset <= to; offset++) {
    out.push({
      id: `m${offset}`,
      room: 'r',
      event: 'e',
      data: offset,
      offset,
      epoch: EPOCH,
      ts: 0,
      from: null,
    });
  }
  return out;
}

const offsets = (messages: Envelope[]) => messages.map((m) => m.offset);

describe('selectHistory', () => {
  // Stored window 6..10 of a room at offset 10 (1..5 were trimmed).
  const stored = envelopes(6, 10);
  const position = { offset: 10, epoch: EPOCH };

  it('without since returns the latest `limit` messages', () => {
    expect(offsets(selectHistory(stored, position, { limit: 3 }).messages)).toEqual([8, 9, 10]);
    expect(offsets(selectHistory(stored, position, { limit: 100 }).messages)).toEqual([6, 7, 8, 9, 10]);
    expect(selectHistory(stored, position, { limit: 0 }).messages).toEqual([]);
    expect(selectHistory(stored, position, { limit: 3 })).toMatchObject({ offset: 10, epoch: EPOCH });
  });

  it('with since inside the window returns what follows, recovered', () => {
    const r = selectHistory(stored, position, { since: { offset: 7, epoch: EPOCH }, limit: 100 });
    expect(offsets(r.messages)).toEqual([8, 9, 10]);
    expect(r.recovered).toBe(true);
  });

  it('with since just before the window is still recovered', () => {
    const r = selectHistory(stored, position, { since: { offset: 5, epoch: EPOCH }, limit: 100 });
    expect(offsets(r.messages)).toEqual([6, 7, 8, 9, 10]);
    expect(r.recovered).toBe(true);
  });

  it('with since older than the window gives what is left, not recovered', () => {
    const r = selectHistory(stored, position, { since: { offset: 2, epoch: EPOCH }, limit: 100 });
    expect(offsets(r.messages)).toEqual([6, 7, 8, 9, 10]);
    expect(r.recovered).toBe(false);
  });

  it('with since at the head is recovered with nothing new', () => {
    const r = selectHistory(stored, position, { since: { offset: 10, epoch: EPOCH }, limit: 100 });
    expect(r).toMatchObject({ messages: [], recovered: true, offset: 10 });
  });

  it('with since beyond the head is not recovered', () => {
    const r = selectHistory(stored, position, { since: { offset: 11, epoch: EPOCH }, limit: 100 });
    expect(r).toMatchObject({ messages: [], recovered: false, offset: 10, epoch: EPOCH });
  });

  it('with another epoch is not recovered and returns nothing', () => {
    const r = selectHistory(stored, position, { since: { offset: 7, epoch: 'old' }, limit: 100 });
    expect(r).toMatchObject({ messages: [], recovered: false, epoch: EPOCH });
  });

  it('with since and a limit returns the oldest `limit` after since', () => {
    const r = selectHistory(stored, position, { since: { offset: 6, epoch: EPOCH }, limit: 2 });
    expect(offsets(r.messages)).toEqual([7, 8]);
  });

  it('with no history kept only recovers when nothing was missed', () => {
    const empty = { offset: 4, epoch: EPOCH };
    expect(selectHistory([], empty, { since: { offset: 4, epoch: EPOCH }, limit: 10 }).recovered).toBe(true);
    expect(selectHistory([], empty, { since: { offset: 3, epoch: EPOCH }, limit: 10 }).recovered).toBe(false);
  });

  it('on a fresh room with since 0 is recovered', () => {
    const fresh = { offset: 0, epoch: EPOCH };
    expect(selectHistory([], fresh, { since: { offset: 0, epoch: EPOCH }, limit: 10 })).toMatchObject({
      messages: [],
      recovered: true,
    });
  });
});
