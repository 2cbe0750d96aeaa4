import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOM_IDLE_MS } from '../../src/backends/redis-engine.js';
import { roomKeys } from '../../src/backends/redis-keys.js';
import type { MemberRef } from '../../src/rooms/engine.js';
import { until, within } from '../helpers/broker.js';
import { monitorRedis, type RedisMonitor } from '../helpers/monitor.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { startNode, type TestNode } from '../helpers/redis-engine.js';
import { draft, engineSuite } from './engine-suite.js';

let redis: TestRedis;
beforeAll(async () => {
  redis = await startRedis();
});
afterAll(() => redis.stop());

engineSuite('redis', async () => {
  const prefix = `t${randomUUID().slice(0, 8)}`;
  const [a, b] = await Promise.all([startNode(redis.url, { prefix }), startNode(redis.url, { prefix })]);
  return {
    a: a.engine,
    b: b.engine,
    sinkA: a.sink,
    sinkB: b.sink,
    close: async () => {
      await Promise.all([a.close(), b.close()]);
    },
  };
});

const KEEP = { size: 100, ttlMs: 300_000 };

describe('redis engine: nodes that die', () => {
  it("announces a dead node's members leaving once, and only users with no connection left", async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const nodes = await Promise.all([0, 1, 2].map(() => startNode(redis.url, { prefix })));
    const [a, b, dead] = nodes as [TestNode, TestNode, TestNode];
    await Promise.all([a, b].flatMap((n) => ['r1', 'r2'].map((r) => n.engine.watch('/', r))));
    const leaves = (n: TestNode) =>
      n.sink.events
        .filter((e) => e.event.action === 'leave')
        .map((e) => ({ room: e.event.room, member: e.event.member }));
    await dead.engine.addMember('/', 'r1', { sub: 'gone', info: { n: 1 } }, 'd1');
    await dead.engine.addMember('/', 'r1', { sub: 'stays', info: null }, 'd2');
    await dead.engine.addMember('/', 'r2', { sub: 'gone', info: { n: 1 } }, 'd3');
    await a.engine.addMember('/', 'r1', { sub: 'stays', info: null }, 'a1');
    dead.client.disconnect(); // no goodbye: its heartbeat stops
    await until(() => leaves(a).length >= 2 && leaves(b).length >= 2, 10_000, 'leave events');
    await until(async () => (await a.engine.members('/', 'r1')).length === 1, 3000, 'r1 without ghosts');
    for (const node of [a, b]) {
      const got: Array<{ room: string; member: MemberRef }> = leaves(node);
      expect(got.map((r) => [r.room, r.member.sub]).sort()).toEqual([
        ['r1', 'gone'],
        ['r2', 'gone'],
      ]);
      expect(got[0]!.member.info).toEqual({ n: 1 });
    }
    expect(await b.engine.members('/', 'r1')).toEqual([{ sub: 'stays', info: null, connections: 1 }]);
    expect(await b.engine.rooms('/', '')).toEqual([{ room: 'r1', members: 1, connections: 1 }]);
    await Promise.all([a.close(), b.close(), dead.close()]);
  });

  it('registers again under a new id when it was reaped while frozen', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const a = await startNode(redis.url, { prefix });
    const frozen = await startNode(redis.url, { prefix });
    await Promise.all([a.engine.watch('/', 'r'), frozen.engine.watch('/', 'r')]);
    await frozen.engine.addMember('/', 'r', { sub: 'alice', info: null }, 'f1');
    const left = () => a.sink.events.filter((e) => e.event.action === 'leave').map((e) => e.event.member.sub);
    const joined = (n: TestNode) =>
      n.sink.events.filter((e) => e.event.action === 'join').map((e) => [e.event.room, e.event.member.sub]);
    frozen.client.disconnect();
    await until(() => left().length === 1, 10_000, 'reaped');
    expect(await a.engine.members('/', 'r')).toEqual([]);
    await frozen.client.connect();
    await until(async () => (await a.engine.members('/', 'r')).length === 1, 5000, 're-registered');
    // Its members are announced again (the others saw them leave), once, from the node that has them.
    await until(() => joined(a).length === 1 && joined(frozen).length === 1, 5000, 'join announced');
    expect(joined(a)).toEqual([['r', 'alice']]);
    expect(await frozen.engine.removeMember('/', 'r', 'alice', 'f1')).toBe(true);
    expect(await a.engine.members('/', 'r')).toEqual([]);
    await Promise.all([a.close(), frozen.close()]);
  });

  it("writes a reaped node's mark before it removes any of its memberships", async () => {
    // The order is what lets a node that resumes in the middle of its reap announce its users
    // again: once anyone can see them gone, the mark is there for it to find (80296b8). Redis's
    // MONITOR lists every command in the order Redis ran it, those of scripts included.
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const monitor = await monitorRedis(redis.port);
    const seen = () =>
      monitor.seen.filter((c) => c.args.some((a) => a.startsWith(`${prefix}:`))).map((c) => c.args);
    try {
      const a = await startNode(redis.url, { prefix });
      const dead = await startNode(redis.url, { prefix });
      await a.engine.watch('/', 'r');
      await dead.engine.addMember('/', 'r', { sub: 'alice', info: null }, 'd1');
      await dead.engine.addMember('/', 'r', { sub: 'bob', info: null }, 'd2');
      // MONITOR's lines come on their own connection: wait for them, not for the replies.
      const sadd = (c: string[]) => c[0]?.toLowerCase() === 'sadd' && c[1]?.startsWith(`${prefix}:node:`);
      await until(() => seen().some(sadd), 3000, 'the membership in MONITOR');
      const nodeSet = seen().find(sadd)?.[1];
      expect(nodeSet).toBeDefined();
      const id = nodeSet!.slice(`${prefix}:node:`.length);
      dead.client.disconnect();
      await until(
        () => a.sink.events.filter((e) => e.event.action === 'leave').length === 2,
        10_000,
        'reaped',
      );
      await until(
        () => seen().some((c) => c[0]?.toLowerCase() === 'srem' && c[1] === nodeSet),
        3000,
        'the removal in MONITOR',
      );
      const commands = seen();
      const at = (test: (c: string[]) => boolean) => commands.findIndex(test);
      const mark = at((c) => c[0]?.toLowerCase() === 'set' && c[1] === `${prefix}:{nodes}:reaped:${id}`);
      const firstRemoval = at((c) => c[0]?.toLowerCase() === 'srem' && c[1] === nodeSet);
      expect(mark).toBeGreaterThanOrEqual(0);
      expect(firstRemoval).toBeGreaterThan(mark);
      await Promise.all([a.close(), dead.close()]);
    } finally {
      monitor.close();
    }
  });
});

describe('redis engine: Redis faults', () => {
  it('fails fast with unavailable while Redis is away, then starts a new epoch when its data is gone', async () => {
    const node = await startNode(redis.url);
    const room = `room:${randomUUID()}`;
    await node.engine.addMember('/', room, { sub: 'alice', info: null }, 'c1');
    await node.engine.watch('/', room);
    const before = await node.engine.publish('/', draft(room), KEEP);
    await redis.kill();
    // Fails fast: both answer within the bound instead of waiting for Redis.
    await within(
      expect(node.engine.publish('/', draft(room), KEEP)).rejects.toMatchObject({ code: 'unavailable' }),
      1500,
      'publish with Redis away',
    );
    await within(
      expect(node.engine.members('/', room)).rejects.toMatchObject({ code: 'unavailable' }),
      1500,
      'members with Redis away',
    );
    await until(() => !node.engine.isReady(), 3000, 'not ready');
    await redis.restart();
    await until(() => node.engine.isReady(), 5000, 'ready again');
    const h = await node.engine.history(
      '/',
      room,
      { since: { offset: before.offset, epoch: before.epoch }, limit: 10 },
      KEEP,
    );
    expect(h.recovered).toBe(false);
    expect(h.epoch).not.toBe(before.epoch);
    expect((await node.engine.publish('/', draft(room), KEEP)).offset).toBe(1);
    // Presence was registered again from the node's own mirror, with no `join` event: nobody was
    // told alice left (no node was reaped), so nobody is told she joined.
    await until(async () => (await node.engine.members('/', room)).length === 1, 5000, 're-registered');
    expect((await node.engine.members('/', room)).map((m) => m.sub)).toEqual(['alice']);
    expect(node.sink.events).toEqual([]);
    await node.close();
  });
});

describe('redis engine: the publish script', () => {
  /** The scripts (EVAL, EVALSHA) MONITOR saw sent for a room, by its stream key. */
  const commandsOf = (monitor: RedisMonitor, stream: string) =>
    monitor.seen
      .filter((c) => c.source !== 'lua' && c.args.includes(stream))
      .map((c) => c.args[0]!.toLowerCase())
      .filter((name) => name.startsWith('eval'));

  it('publishes after Redis lost its scripts: NOSCRIPT, the script once by EVAL, then EVALSHA again', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const node = await startNode(redis.url, { prefix });
    const room = `room:${randomUUID()}`;
    const stream = roomKeys(prefix, '/', room).stream;
    const first = await node.engine.publish('/', draft(room), KEEP);
    const admin = new Redis(redis.url);
    const monitor = await monitorRedis(redis.port);
    try {
      await admin.script('FLUSH');
      const second = await node.engine.publish('/', draft(room), KEEP);
      const third = await node.engine.publish('/', draft(room), KEEP);
      expect([second.offset, third.offset]).toEqual([first.offset + 1, first.offset + 2]);
      await until(() => commandsOf(monitor, stream).length === 3, 2000, 'three commands seen');
      expect(commandsOf(monitor, stream)).toEqual(['evalsha', 'eval', 'evalsha']);
      const h = await node.engine.history('/', room, { limit: 10 }, KEEP);
      expect(h.messages.map((m) => m.offset)).toEqual([1, 2, 3]);
    } finally {
      monitor.close();
      admin.disconnect();
      await node.close();
    }
  });

  it('does not send the script again for an error other than NOSCRIPT: the publish is unavailable', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const node = await startNode(redis.url, { prefix });
    const room = `room:${randomUUID()}`;
    const stream = roomKeys(prefix, '/', room).stream;
    // Loaded first (a Redis that has not seen the script answers NOSCRIPT, and it is sent again).
    await node.engine.publish('/', draft(`room:${randomUUID()}`), KEEP);
    const admin = new Redis(redis.url);
    // The room's stream is a hash: a string there fails the script (WRONGTYPE).
    await admin.set(stream, 'not a hash');
    const monitor = await monitorRedis(redis.port);
    try {
      await expect(node.engine.publish('/', draft(room), KEEP)).rejects.toMatchObject({
        code: 'unavailable',
        message: expect.stringContaining('WRONGTYPE'),
      });
      // A later command on the same connection has been answered: nothing else was sent for it.
      await admin.del(stream);
      await node.engine.publish('/', draft(room), KEEP);
      await until(() => commandsOf(monitor, stream).length === 2, 2000, 'two commands seen');
      expect(commandsOf(monitor, stream)).toEqual(['evalsha', 'evalsha']);
    } finally {
      monitor.close();
      admin.disconnect();
      await node.close();
    }
  });
});

describe('redis engine: a stalled Redis', () => {
  it('a publish Redis runs after the node gave up on it (unavailable) is not applied when Redis resumes', async () => {
    // A Redis of its own: this one is frozen (SIGSTOP), and runs what it queued once thawed.
    const own = await startRedis();
    const node = await startNode(own.url, { requestTimeoutMs: 500 });
    try {
      const room = `room:${randomUUID()}`;
      expect((await node.engine.publish('/', draft(room, 'before'), KEEP)).offset).toBe(1);
      own.freeze();
      await expect(node.engine.publish('/', draft(room, 'refused'), KEEP)).rejects.toMatchObject({
        code: 'unavailable',
      });
      own.thaw();
      // Commands on one connection run in order: once this publish is answered, Redis has run the
      // refused one too.
      const after = await until(
        () => Promise.resolve(node.engine.publish('/', draft(room, 'after'), KEEP)).catch(() => null),
        10_000,
        'a publish after the thaw',
      );
      expect(after.offset).toBe(2);
      const h = await node.engine.history('/', room, { limit: 10 }, KEEP);
      expect(h.messages.map((m) => [m.offset, m.data])).toEqual([
        [1, 'before'],
        [2, 'after'],
      ]);
    } finally {
      own.thaw();
      await node.close();
      await own.stop();
    }
  });
});

describe('redis engine: idempotency keys', () => {
  it('answers a key stored before 0.2 kept its room (`epoch|offset`) with that result, and an empty room', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const node = await startNode(redis.url, { prefix });
    // The namespace's key, written as a node before this change wrote its value.
    await node.client.set(`${prefix}:k:/:old-key`, 'E0|7', 'PX', 60_000);
    const opts = { idempotencyKey: 'old-key', idempotencyWindowMs: 60_000 };
    expect(await node.engine.publish('/', draft('r:old'), KEEP, opts)).toEqual({
      offset: 7,
      epoch: 'E0',
      duplicate: true,
    });
    const fresh = await node.engine.publish('/', draft('r:new'), KEEP, {
      ...opts,
      idempotencyKey: 'new-key',
    });
    expect(await node.client.get(`${prefix}:k:/:new-key`)).toBe(`${fresh.epoch}|${fresh.offset}|r:new`);
    await node.close();
  });
});

describe('redis engine: idle rooms', () => {
  it("every publish renews the room's idle TTL, so a room is forgotten a day after its last publish", async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const node = await startNode(redis.url, { prefix });
    const k = roomKeys(prefix, '/', 'quiet');
    for (const policy of [KEEP, { size: 100, ttlMs: 0 }]) {
      await node.engine.publish('/', draft('quiet'), policy);
      // As if nearly a day had passed since the room's last renewal.
      await node.client.pexpire(k.stream, 1000);
      await node.client.pexpire(k.history, 1000);
      const { offset } = await node.engine.publish('/', draft('quiet'), policy);
      expect(offset % 64).not.toBe(1);
      expect(await node.client.pttl(k.stream)).toBeGreaterThan(ROOM_IDLE_MS - 60_000);
      const history = await node.client.pttl(k.history);
      if (policy.ttlMs > 0) expect(history).toBeGreaterThan(policy.ttlMs - 60_000);
      else expect(history).toBeGreaterThan(ROOM_IDLE_MS - 60_000);
    }
    await node.close();
  });
});

describe('redis engine: reads', () => {
  it('leaves no key behind for 20,000 reads of rooms that have no state', async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const node = await startNode(redis.url, { prefix });
    const count = async () => (await node.client.keys(`${prefix}:*`)).length;
    const before = await count();
    for (let batch = 0; batch < 40; batch++) {
      await Promise.all(
        Array.from({ length: 250 }, async (_, i) => {
          const room = `empty:${batch}:${i}`;
          await node.engine.history('/', room, { limit: 10 }, KEEP);
          await node.engine.members('/', room);
        }),
      );
    }
    expect((await count()) - before).toBeLessThan(200);
    expect(await count()).toBe(before);
    await node.close();
  }, 60_000);
});
