import { afterEach, describe, expect, it, vi } from 'vitest';
import { createMemoryEngine } from '../../src/backends/memory-engine.js';
import type { Draft, Engine } from '../../src/rooms/engine.js';
import { RecordingSink } from '../engine/engine-suite.js';

let clock = 1_000_000;
const engines: Engine[] = [];
function engine(): Engine {
  const e = createMemoryEngine(new RecordingSink(), () => clock);
  engines.push(e);
  return e;
}
afterEach(async () => {
  await Promise.all(engines.splice(0).map((e) => e.close()));
});

const draft = (room: string, data: unknown = null): Draft => ({
  id: `id-${Math.random()}`,
  room,
  event: 'e',
  data,
  ts: clock,
  from: null,
});
const KEEP = { size: 100, ttlMs: 0 };

describe('memory engine: offsets and history', () => {
  it('counts offsets per room and namespace from 1, with a stable epoch per room', async () => {
    const e = engine();
    const a1 = await e.publish('/', draft('a'), KEEP);
    const a2 = await e.publish('/', draft('a'), KEEP);
    const b1 = await e.publish('/', draft('b'), KEEP);
    const other = await e.publish('/x', draft('a'), KEEP);
    expect([a1.offset, a2.offset, b1.offset, other.offset]).toEqual([1, 2, 1, 1]);
    expect(a2.epoch).toBe(a1.epoch);
    expect(a1.epoch).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(await e.history('/', 'a', { limit: 10 }, KEEP)).toMatchObject({ offset: 2, epoch: a1.epoch });
  });

  it('starts every engine (a fresh process) with a new epoch', async () => {
    const one = await engine().publish('/', draft('a'), KEEP);
    const two = await engine().publish('/', draft('a'), KEEP);
    expect(one.epoch).not.toBe(two.epoch);
  });

  it('keeps at most `size` messages', async () => {
    const e = engine();
    const policy = { size: 3, ttlMs: 0 };
    for (let i = 1; i <= 10; i++) await e.publish('/', draft('r', i), policy);
    const h = await e.history('/', 'r', { limit: 100 }, policy);
    expect(h.messages.map((m) => m.data)).toEqual([8, 9, 10]);
    expect(h.offset).toBe(10);
    const since = await e.history('/', 'r', { since: { offset: 5, epoch: h.epoch }, limit: 100 }, policy);
    expect(since.recovered).toBe(false);
  });

  it('keeps nothing with size 0 but still counts offsets', async () => {
    const e = engine();
    const none = { size: 0, ttlMs: 0 };
    await e.publish('/', draft('r'), none);
    const second = await e.publish('/', draft('r'), none);
    expect(second.offset).toBe(2);
    expect(await e.history('/', 'r', { limit: 10 }, none)).toMatchObject({ messages: [], offset: 2 });
  });

  it('drops messages older than ttlMs', async () => {
    const e = engine();
    const policy = { size: 100, ttlMs: 1000 };
    await e.publish('/', draft('r', 'old'), policy);
    clock += 600;
    await e.publish('/', draft('r', 'new'), policy);
    clock += 600;
    const h = await e.history('/', 'r', { limit: 10 }, policy);
    expect(h.messages.map((m) => m.data)).toEqual(['new']);
    clock += 1000;
    expect((await e.history('/', 'r', { limit: 10 }, policy)).messages).toEqual([]);
  });

  it('forgets an idle room once its history has expired, so it cannot leak', async () => {
    vi.useFakeTimers();
    try {
      const e = engine();
      const policy = { size: 100, ttlMs: 1000 };
      const first = await e.publish('/', draft('idle'), policy);
      clock += 11 * 60_000;
      vi.advanceTimersByTime(60_000);
      const again = await e.publish('/', draft('idle'), policy);
      // A forgotten room starts over with a new epoch, so old offsets are never taken for new ones.
      expect(again.offset).toBe(1);
      expect(again.epoch).not.toBe(first.epoch);
    } finally {
      vi.useRealTimers();
    }
  });

  it('reads history of a room that never had a message', async () => {
    const h = await engine().history('/', 'never', { limit: 10 }, KEEP);
    expect(h).toMatchObject({ messages: [], offset: 0, recovered: true });
  });
});

describe('memory engine: presence', () => {
  const alice = { sub: 'alice', info: { n: 'A' } };

  it('reports the first connection of a user and the last one gone', async () => {
    const e = engine();
    expect(await e.addMember('/', 'r', alice, 'c1')).toBe(true);
    expect(await e.addMember('/', 'r', alice, 'c2')).toBe(false);
    expect(await e.addMember('/', 'r', alice, 'c2')).toBe(false);
    expect(await e.members('/', 'r')).toEqual([{ sub: 'alice', info: { n: 'A' }, connections: 2 }]);
    expect(await e.removeMember('/', 'r', 'alice', 'c1')).toBe(false);
    expect(await e.removeMember('/', 'r', 'alice', 'c1')).toBe(false);
    expect(await e.removeMember('/', 'r', 'alice', 'c2')).toBe(true);
    expect(await e.members('/', 'r')).toEqual([]);
    expect(await e.removeMember('/', 'r', 'alice', 'c2')).toBe(false);
    expect(await e.removeMember('/', 'nowhere', 'alice', 'c2')).toBe(false);
  });

  it('counts one connection kept alone, and more, alike', async () => {
    const e = engine();
    expect(await e.addMember('/', 'r', alice, 'c1')).toBe(true);
    expect(await e.addMember('/', 'r', alice, 'c1')).toBe(false);
    expect(await e.memberConnections('/', 'r', 'alice')).toBe(1);
    // Another connection's leave does not remove a user that has one connection.
    expect(await e.removeMember('/', 'r', 'alice', 'c9')).toBe(false);
    expect(await e.members('/', 'r')).toEqual([{ sub: 'alice', info: { n: 'A' }, connections: 1 }]);
    expect(await e.addMember('/', 'r', alice, 'c2')).toBe(false);
    expect(await e.addMember('/', 'r', alice, 'c3')).toBe(false);
    expect(await e.memberConnections('/', 'r', 'alice')).toBe(3);
    expect(await e.removeMember('/', 'r', 'alice', 'c9')).toBe(false);
    expect(await e.removeMember('/', 'r', 'alice', 'c2')).toBe(false);
    expect(await e.removeMember('/', 'r', 'alice', 'c1')).toBe(false);
    expect(await e.memberConnections('/', 'r', 'alice')).toBe(1);
    expect(await e.removeMember('/', 'r', 'alice', 'c3')).toBe(true);
    expect(await e.memberConnections('/', 'r', 'alice')).toBe(0);
    expect(await e.addMember('/', 'r', alice, 'c3')).toBe(true);
    expect(await e.removeMember('/', 'r', 'alice', 'c3')).toBe(true);
    expect(await e.members('/', 'r')).toEqual([]);
  });

  it('lists rooms with members, by prefix, per namespace, sorted', async () => {
    const e = engine();
    await e.addMember('/', 'chat:b', alice, 'c1');
    await e.addMember('/', 'chat:a', alice, 'c1');
    await e.addMember('/', 'chat:a', { sub: 'bob', info: null }, 'c2');
    await e.addMember('/', 'chat:a', { sub: 'bob', info: null }, 'c3');
    await e.addMember('/', 'news', alice, 'c1');
    await e.addMember('/other', 'chat:z', alice, 'c9');
    await e.publish('/', draft('chat:empty'), KEEP);
    expect(await e.rooms('/', 'chat:')).toEqual([
      { room: 'chat:a', members: 2, connections: 3 },
      { room: 'chat:b', members: 1, connections: 1 },
    ]);
    expect((await e.rooms('/', '')).map((r) => r.room)).toEqual(['chat:a', 'chat:b', 'news']);
    expect(await e.rooms('/other', '')).toEqual([{ room: 'chat:z', members: 1, connections: 1 }]);
  });

  it('handles prototype names as plain rooms and users', async () => {
    const e = engine();
    expect(await e.addMember('/', '__proto__', { sub: 'constructor', info: null }, 'c1')).toBe(true);
    expect(await e.members('/', '__proto__')).toEqual([{ sub: 'constructor', info: null, connections: 1 }]);
    expect((await e.publish('/', draft('constructor'), KEEP)).offset).toBe(1);
    expect(await e.members('/', 'toString')).toEqual([]);
  });
});

describe('memory engine: idempotency and reads', () => {
  it('forgets an idempotency key after its window', async () => {
    const e = engine();
    const opts = { idempotencyKey: 'k', idempotencyWindowMs: 1000 };
    expect(await e.publish('/', draft('a'), KEEP, opts)).toMatchObject({ offset: 1, duplicate: false });
    expect(await e.publish('/', draft('a'), KEEP, opts)).toMatchObject({ offset: 1, duplicate: true });
    clock += 1001;
    expect(await e.publish('/', draft('a'), KEEP, opts)).toMatchObject({ offset: 2, duplicate: false });
  });

  it('keeps no state for rooms that are only read', async () => {
    const e = engine();
    for (let i = 0; i < 100; i++) await e.history('/', `read:${i}`, { limit: 10 }, KEEP);
    const first = await e.publish('/', draft('read:1'), KEEP);
    expect(first.offset).toBe(1);
  });

  it('is ready and closes', async () => {
    const e = engine();
    expect(e.kind).toBe('memory');
    expect(e.isReady()).toBe(true);
    await e.close();
  });
});
