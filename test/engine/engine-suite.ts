import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Draft, Engine, HistoryPolicy } from '../../src/rooms/engine.js';

/**
 * Two engines that share state: on one node both are the same engine; in a cluster they are two
 * nodes over one Redis. `close()` ends both.
 */
export interface EnginePair {
  a: Engine;
  b: Engine;
  close(): Promise<void>;
}

const KEEP: HistoryPolicy = { size: 100, ttlMs: 300_000 };

let seq = 0;
/** A draft for `room`; `data` defaults to a counter, `ts` to now. */
export function draft(room: string, data: unknown = ++seq, ts = Date.now()): Draft {
  return { id: randomUUID(), room, event: 'e', data, ts, from: { sub: 'alice', info: { name: 'Alice' } } };
}

/**
 * The contract of the `Engine` seam, run against every implementation with the same tests.
 *
 * @example
 * engineSuite('memory', async () => { const e = createMemoryEngine(); return { a: e, b: e, close: () => e.close() }; });
 */
export function engineSuite(name: string, create: () => Promise<EnginePair>): void {
  describe(`engine contract: ${name}`, () => {
    let pair: EnginePair;
    let a: Engine;
    let b: Engine;
    let room: string;
    beforeEach(async () => {
      pair = await create();
      ({ a, b } = pair);
      room = `room:${randomUUID()}`;
    });
    afterEach(() => pair.close());

    it('gives offsets from 1 in one sequence per room, the same epoch, across nodes', async () => {
      const e1 = await a.publish('/', draft(room), KEEP);
      const e2 = await b.publish('/', draft(room), KEEP);
      const other = await a.publish('/', draft(`${room}:x`), KEEP);
      const otherNs = await a.publish('/ns', draft(room), KEEP);
      expect([e1.offset, e2.offset, other.offset, otherNs.offset]).toEqual([1, 2, 1, 1]);
      expect(e2.epoch).toBe(e1.epoch);
      expect(e1).toMatchObject({ room, event: 'e', from: { sub: 'alice' } });
    });

    it('assigns each offset once under concurrent publishers', async () => {
      const all = await Promise.all(
        Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).publish('/', draft(room, i), KEEP)),
      );
      const offsets = all.map((e) => e.offset).sort((x, y) => x - y);
      expect(offsets).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      const h = await b.history('/', room, { limit: 100 }, KEEP);
      expect(h.messages.map((m) => m.offset)).toEqual(offsets);
      expect(h.messages.map((m) => m.id)).toEqual(
        [...all].sort((x, y) => x.offset - y.offset).map((e) => e.id),
      );
    });

    it('answers history: the latest, after `since`, bounded by limit', async () => {
      const sent = [];
      for (let i = 0; i < 5; i++) sent.push(await a.publish('/', draft(room, i), KEEP));
      const epoch = sent[0]!.epoch;
      const latest = await b.history('/', room, { limit: 2 }, KEEP);
      expect(latest).toMatchObject({ offset: 5, epoch, recovered: true });
      expect(latest.messages.map((m) => m.data)).toEqual([3, 4]);
      expect(latest.messages[0]).toEqual(sent[3]);
      const after = await b.history('/', room, { since: { offset: 2, epoch }, limit: 2 }, KEEP);
      expect(after.messages.map((m) => m.offset)).toEqual([3, 4]);
      expect(after.recovered).toBe(true);
      const none = await b.history('/', room, { since: { offset: 5, epoch }, limit: 10 }, KEEP);
      expect(none).toMatchObject({ messages: [], recovered: true, offset: 5 });
    });

    it('reports recovered: false beyond history, for another epoch and for a future offset', async () => {
      const small: HistoryPolicy = { size: 3, ttlMs: 0 };
      for (let i = 0; i < 6; i++) await a.publish('/', draft(room, i), small);
      const h = await b.history('/', room, { limit: 10 }, small);
      expect(h.messages.map((m) => m.offset)).toEqual([4, 5, 6]);
      const { epoch } = h;
      const lost = await b.history('/', room, { since: { offset: 1, epoch }, limit: 10 }, small);
      expect(lost.recovered).toBe(false);
      const ok = await b.history('/', room, { since: { offset: 3, epoch }, limit: 10 }, small);
      expect(ok).toMatchObject({ recovered: true });
      expect(ok.messages.map((m) => m.offset)).toEqual([4, 5, 6]);
      const stale = await b.history('/', room, { since: { offset: 5, epoch: 'other' }, limit: 10 }, small);
      expect(stale).toMatchObject({ recovered: false, messages: [], epoch });
      const future = await b.history('/', room, { since: { offset: 99, epoch }, limit: 10 }, small);
      expect(future.recovered).toBe(false);
    });

    it('counts offsets with no history kept, and drops messages older than the TTL', async () => {
      const none: HistoryPolicy = { size: 0, ttlMs: 0 };
      await a.publish('/', draft(room), none);
      const e = await a.publish('/', draft(room), none);
      expect(e.offset).toBe(2);
      expect((await b.history('/', room, { limit: 10 }, none)).messages).toEqual([]);
      const aged: HistoryPolicy = { size: 10, ttlMs: 60_000 };
      const old = `${room}:aged`;
      await a.publish('/', draft(old, 'old', Date.now() - 120_000), aged);
      await a.publish('/', draft(old, 'new'), aged);
      const h = await b.history('/', old, { limit: 10 }, aged);
      expect(h.messages.map((m) => m.data)).toEqual(['new']);
      const since = await b.history('/', old, { since: { offset: 0, epoch: h.epoch }, limit: 10 }, aged);
      expect(since.recovered).toBe(false);
    });

    it('knows a room it never saw: offset 0 and a stable epoch', async () => {
      const h1 = await a.history('/', room, { limit: 10 }, KEEP);
      const h2 = await b.history('/', room, { limit: 10 }, KEEP);
      expect(h1).toMatchObject({ offset: 0, messages: [], recovered: true });
      expect(h2.epoch).toBe(h1.epoch);
      expect((await a.publish('/', draft(room), KEEP)).epoch).toBe(h1.epoch);
    });

    it('tracks members: first and last connection of a user, across nodes', async () => {
      const alice = { sub: 'alice', info: { name: 'Alice' } };
      expect(await a.addMember('/', room, alice, 'c1')).toBe(true);
      expect(await b.addMember('/', room, alice, 'c2')).toBe(false);
      expect(await a.addMember('/', room, alice, 'c1')).toBe(false);
      expect(await b.addMember('/', room, { sub: 'bob', info: null }, 'c3')).toBe(true);
      const members = (await a.members('/', room)).sort((x, y) => x.sub.localeCompare(y.sub));
      expect(members).toEqual([
        { sub: 'alice', info: { name: 'Alice' }, connections: 2 },
        { sub: 'bob', info: null, connections: 1 },
      ]);
      expect(await a.removeMember('/', room, 'alice', 'c1')).toBe(false);
      expect(await a.removeMember('/', room, 'alice', 'nope')).toBe(false);
      expect(await b.removeMember('/', room, 'alice', 'c2')).toBe(true);
      expect((await b.members('/', room)).map((m) => m.sub)).toEqual(['bob']);
      expect(await b.members('/', `${room}:empty`)).toEqual([]);
    });

    it('lists rooms with members by prefix, with counts', async () => {
      const p = `${room}:`;
      await a.addMember('/', `${p}b`, { sub: 'u1', info: null }, 'c1');
      await b.addMember('/', `${p}b`, { sub: 'u1', info: null }, 'c2');
      await b.addMember('/', `${p}b`, { sub: 'u2', info: null }, 'c3');
      await a.addMember('/', `${p}a`, { sub: 'u1', info: null }, 'c4');
      await a.addMember('/', 'elsewhere', { sub: 'u1', info: null }, 'c5');
      await a.addMember('/other', `${p}c`, { sub: 'u1', info: null }, 'c6');
      expect(await b.rooms('/', p)).toEqual([
        { room: `${p}a`, members: 1, connections: 1 },
        { room: `${p}b`, members: 2, connections: 3 },
      ]);
      await a.removeMember('/', `${p}a`, 'u1', 'c4');
      expect((await a.rooms('/', p)).map((r) => r.room)).toEqual([`${p}b`]);
      expect((await a.rooms('/other', '')).map((r) => r.room)).toEqual([`${p}c`]);
    });

    it('runs once per key: a repeat, even a concurrent one, gets the first result', async () => {
      const key = randomUUID();
      let runs = 0;
      const slow = () =>
        new Promise<{ n: number }>((resolve) => setTimeout(() => resolve({ n: ++runs }), 50));
      const [r1, r2] = await Promise.all([a.once('/', key, 60_000, slow), b.once('/', key, 60_000, slow)]);
      const r3 = await b.once('/', key, 60_000, slow);
      expect(runs).toBe(1);
      expect([r1, r2, r3]).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }]);
      expect(await a.once('/other', key, 60_000, slow)).toEqual({ n: 2 });
    });

    it('lets a failed run be retried', async () => {
      const key = randomUUID();
      await expect(a.once('/', key, 60_000, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      expect(await b.once('/', key, 60_000, async () => 'ok')).toBe('ok');
    });

    it('is ready', () => {
      expect(a.isReady()).toBe(true);
      expect(b.isReady()).toBe(true);
    });
  });
}
