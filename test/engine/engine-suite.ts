import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Envelope, PresenceEvent } from '../../src/protocol.js';
import type { DeliverySink, Draft, Engine, HistoryPolicy } from '../../src/rooms/engine.js';
import { until } from '../helpers/broker.js';

/**
 * Two engines that share state: on one node both are the same engine; in a cluster they are two
 * nodes over one Redis. Each node hands what reaches it to its own sink. `close()` ends both.
 */
export interface EnginePair {
  a: Engine;
  b: Engine;
  sinkA: RecordingSink;
  sinkB: RecordingSink;
  close(): Promise<void>;
  /** Idempotency keys are kept per room (a Redis Cluster: one script reaches one slot). */
  keysPerRoom?: boolean;
}

/** A delivery sink that keeps what it is handed. */
export class RecordingSink implements DeliverySink {
  readonly messages: Array<{ ns: string; envelope: Envelope; except: string | undefined }> = [];
  readonly events: Array<{ ns: string; event: PresenceEvent; except: string | undefined }> = [];
  resyncs = 0;
  message(ns: string, envelope: Envelope, except: string | undefined): void {
    this.messages.push({ ns, envelope, except });
  }
  presence(ns: string, event: PresenceEvent, except: string | undefined): void {
    this.events.push({ ns, event, except });
  }
  resync(): void {
    this.resyncs++;
  }
  /** Forwards to several sinks (one memory engine serving two "nodes"). */
  static both(...sinks: DeliverySink[]): DeliverySink {
    return {
      message: (ns, e, x) => {
        for (const s of sinks) s.message(ns, e, x);
      },
      presence: (ns, e, x) => {
        for (const s of sinks) s.presence(ns, e, x);
      },
      resync: () => {
        for (const s of sinks) s.resync();
      },
    };
  }
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
      expect(e1.duplicate).toBe(false);
      const [stored] = (await a.history('/', room, { limit: 1 }, KEEP)).messages;
      expect(stored).toMatchObject({ room, event: 'e', from: { sub: 'alice' }, offset: 2 });
    });

    it('sends each publish, in the same step, to every node that watches the room', async () => {
      await Promise.all([a.watch('/', room), b.watch('/', room)]);
      const d = draft(room, { n: 1 });
      const sent = await a.publish('/', d, KEEP, { exceptConnId: 'conn-1' });
      for (const sink of [pair.sinkA, pair.sinkB]) {
        await until(() => sink.messages.some((m) => m.envelope.id === d.id), 3000, 'delivered');
        const got = sink.messages.filter((m) => m.envelope.id === d.id);
        expect(got).toHaveLength(1);
        expect(got[0]).toEqual({
          ns: '/',
          envelope: { ...d, offset: sent.offset, epoch: sent.epoch },
          except: 'conn-1',
        });
      }
    });

    it('sends a message whose exception names no possible connection (a|b) to everyone', async () => {
      await b.watch('/', room);
      const d = draft(room, { n: 2 });
      await a.publish('/', d, KEEP, { exceptConnId: 'a|b' });
      await until(() => pair.sinkB.messages.some((m) => m.envelope.id === d.id), 3000, 'delivered');
      // A socket.io-client 2.x id outside `/` (`/ns#…`) is an id like any other.
      const d2 = draft(room, { n: 3 });
      await a.publish('/', d2, KEEP, { exceptConnId: '/echo#AbC-_12' });
      await until(() => pair.sinkB.messages.some((m) => m.envelope.id === d2.id), 3000, 'delivered');
      expect(pair.sinkB.messages.find((m) => m.envelope.id === d2.id)?.except).toBe('/echo#AbC-_12');
      // No connection has such an id: whatever the engine passes on, everyone gets it.
      expect(pair.sinkB.messages.find((m) => m.envelope.id === d.id)?.envelope).toMatchObject({
        data: { n: 2 },
      });
    });

    it('keeps binary parts as bytes, live and in history', async () => {
      await b.watch('/', room);
      const bytes = Buffer.from([0, 1, 2, 250, 255]);
      const d = draft(room, { file: bytes, nested: [{ more: Buffer.from('hi') }] });
      await a.publish('/', d, KEEP, { binary: true });
      await until(() => pair.sinkB.messages.some((m) => m.envelope.id === d.id), 3000, 'delivered');
      const live = pair.sinkB.messages.find((m) => m.envelope.id === d.id)!.envelope.data as { file: Buffer };
      expect(Buffer.isBuffer(live.file)).toBe(true);
      expect(live).toEqual({ file: bytes, nested: [{ more: Buffer.from('hi') }] });
      const [stored] = (await b.history('/', room, { limit: 1 }, KEEP)).messages;
      expect(Buffer.isBuffer((stored!.data as { file: Buffer }).file)).toBe(true);
      expect(stored!.data).toEqual({ file: bytes, nested: [{ more: Buffer.from('hi') }] });
    });

    it('publishes an idempotency key once per namespace (per room on a Redis Cluster): a repeat, even a concurrent one, gets the first result', async () => {
      await b.watch('/', room);
      const key = randomUUID();
      const opts = { idempotencyKey: key, idempotencyWindowMs: 60_000 };
      const [r1, r2] = await Promise.all([
        a.publish('/', draft(room), KEEP, opts),
        b.publish('/', draft(room), KEEP, opts),
      ]);
      const r3 = await b.publish('/', draft(room), KEEP, opts);
      expect([r1.offset, r2.offset, r3.offset]).toEqual([1, 1, 1]);
      expect([r1.duplicate, r2.duplicate, r3.duplicate].filter(Boolean)).toHaveLength(2);
      // Another room: the first result, and the room it went to; nothing sent.
      const other = await a.publish('/', draft(`${room}:other`), KEEP, opts);
      if (pair.keysPerRoom) expect(other).toMatchObject({ offset: 1, duplicate: false });
      else expect(other).toEqual({ offset: 1, epoch: r1.epoch, duplicate: true, room });
      // Another namespace: another key.
      expect((await a.publish('/elsewhere', draft(`${room}:ns`), KEEP, opts)).duplicate).toBe(false);
      expect((await a.publish('/', draft(room), KEEP)).offset).toBe(2);
      await until(
        () => pair.sinkB.messages.filter((m) => m.envelope.room === room).length >= 2,
        3000,
        'both',
      );
      expect(
        pair.sinkB.messages.filter((m) => m.envelope.room === room).map((m) => m.envelope.offset),
      ).toEqual([1, 2]);
    });

    it('sends presence events to the nodes that watch the room', async () => {
      await b.watch('/', room);
      const event: PresenceEvent = { room, action: 'join', member: { sub: 'bob', info: null } };
      await a.announce('/', event, 'conn-2');
      await until(() => pair.sinkB.events.length > 0, 3000, 'presence event');
      expect(pair.sinkB.events).toEqual([{ ns: '/', event, except: 'conn-2' }]);
    });

    it('assigns each offset once under concurrent publishers', async () => {
      const all = await Promise.all(
        Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).publish('/', draft(room, i), KEEP)),
      );
      const offsets = all.map((e) => e.offset).sort((x, y) => x - y);
      expect(offsets).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
      const h = await b.history('/', room, { limit: 100 }, KEEP);
      expect(h.messages.map((m) => m.offset)).toEqual(offsets);
      const sentAt = new Map(all.map((e, i) => [e.offset, i]));
      expect(h.messages.map((m) => m.data)).toEqual(h.messages.map((m) => sentAt.get(m.offset)));
    });

    it('answers history: the latest, after `since`, bounded by limit', async () => {
      const sent = [];
      for (let i = 0; i < 5; i++) sent.push(await a.publish('/', draft(room, i), KEEP));
      const epoch = sent[0]!.epoch;
      const latest = await b.history('/', room, { limit: 2 }, KEEP);
      expect(latest).toMatchObject({ offset: 5, epoch, recovered: true });
      expect(latest.messages.map((m) => m.data)).toEqual([3, 4]);
      expect(latest.messages[0]).toMatchObject({ offset: sent[3]!.offset, epoch, data: 3 });
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

    it('reads a room it never saw without creating it: offset 0, no epoch', async () => {
      const h1 = await a.history('/', room, { limit: 10 }, KEEP);
      const h2 = await b.history('/', room, { since: { offset: 0, epoch: 'x' }, limit: 10 }, KEEP);
      expect(h1).toEqual({ offset: 0, epoch: '', messages: [], recovered: true });
      expect(h2).toMatchObject({ offset: 0, epoch: '', messages: [] });
      const joined = await a.history('/', room, { limit: 10, create: true }, KEEP);
      expect(joined).toMatchObject({ offset: 0, messages: [] });
      expect(joined.epoch).not.toBe('');
      expect((await b.history('/', room, { limit: 10 }, KEEP)).epoch).toBe(joined.epoch);
      expect((await a.publish('/', draft(room), KEEP)).epoch).toBe(joined.epoch);
    });

    it('takes the position a read of a room with no state gave ({ offset: 0, epoch: "" }) as its start', async () => {
      const before = await a.history('/', room, { limit: 10 }, KEEP);
      expect([before.offset, before.epoch]).toEqual([0, '']);
      const since = { offset: before.offset, epoch: before.epoch };
      expect(await b.history('/', room, { since, limit: 10, create: true }, KEEP)).toMatchObject({
        offset: 0,
        messages: [],
        recovered: true,
      });
      const first = await a.publish('/', draft(room, 1), KEEP);
      await a.publish('/', draft(room, 2), KEEP);
      const after = await b.history('/', room, { since, limit: 10 }, KEEP);
      expect(after).toMatchObject({ offset: 2, epoch: first.epoch, recovered: true });
      expect(after.messages.map((m) => m.data)).toEqual([1, 2]);
      // Past the history kept, the start is no longer there.
      const small = { size: 1, ttlMs: 0 };
      await a.publish('/', draft(room, 3), small);
      expect(await b.history('/', room, { since, limit: 10 }, small)).toMatchObject({ recovered: false });
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

    it('removes a member whose add is still on its way: no member is left behind', async () => {
      // A connection that closes during its join: the leave is asked before the add has answered.
      const adding = a.addMember('/', room, { sub: 'carol', info: null }, 'c9');
      const removing = a.removeMember('/', room, 'carol', 'c9');
      await Promise.allSettled([adding, removing]);
      expect(await a.members('/', room)).toEqual([]);
      expect(await b.members('/', room)).toEqual([]);
      // Joined, left and joined again within a round trip: the last one stands.
      const ops = [
        a.addMember('/', room, { sub: 'dan', info: null }, 'd1'),
        a.removeMember('/', room, 'dan', 'd1'),
        a.addMember('/', room, { sub: 'dan', info: null }, 'd1'),
      ];
      await Promise.allSettled(ops);
      expect((await b.members('/', room)).map((m) => m.sub)).toEqual(['dan']);
      expect(await a.removeMember('/', room, 'dan', 'd1')).toBe(true);
      expect(await b.members('/', room)).toEqual([]);
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

    it('counts one room by its name, across nodes, and not the rooms its name prefixes', async () => {
      const r = `${room}:one`;
      await a.addMember('/', r, { sub: 'u1', info: null }, 'c1');
      await b.addMember('/', r, { sub: 'u1', info: null }, 'c2');
      await b.addMember('/', r, { sub: 'u2', info: null }, 'c3');
      await a.addMember('/', `${r}x`, { sub: 'u3', info: null }, 'c4');
      await a.addMember('/other', r, { sub: 'u4', info: null }, 'c5');
      expect(await a.room('/', r)).toEqual({ room: r, members: 2, connections: 3 });
      expect(await b.room('/', r)).toEqual({ room: r, members: 2, connections: 3 });
      expect(await a.room('/', `${r}:nobody`)).toEqual({ room: `${r}:nobody`, members: 0, connections: 0 });
      await b.removeMember('/', r, 'u2', 'c3');
      expect(await a.room('/', r)).toEqual({ room: r, members: 1, connections: 2 });
    });

    it('is ready', () => {
      expect(a.isReady()).toBe(true);
      expect(b.isReady()).toBe(true);
    });
  });
}
