import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import type { RunningBroker } from '../helpers/broker.js';
import { closeClients, collect, connect, request, token, until } from '../helpers/broker.js';
import { startCluster } from '../helpers/cluster.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { readyz } from './stream-scenario.js';

let redis: TestRedis;
let node: RunningBroker;
let control: Redis;

beforeAll(async () => {
  redis = await startRedis();
  [node] = (await startCluster(1, redis.url)) as [RunningBroker];
  control = new Redis(redis.url, { lazyConnect: true });
  await control.connect();
});
afterAll(async () => {
  await control?.config('SET', 'maxclients', '10000').catch(() => undefined);
  control?.disconnect();
  await node?.close();
  await redis?.stop();
});

describe('cluster: readiness follows the Socket.IO adapter subscriber too', () => {
  it('answers /readyz 503 while only the adapter subscriber is down, and 200 once it is back', async () => {
    await until(async () => (await readyz(node.url)) === 200, 10_000, 'ready');
    // Every connection the node has stays up, but no new one is accepted: the adapter subscriber,
    // killed below, cannot come back while the engine's connections go on working.
    await control.config('SET', 'maxclients', '1');
    const list = String(await control.client('LIST'));
    const adapter = list.split('\n').find((line) => / name=roomcast-adapter /.test(line));
    expect(adapter, list).toBeDefined();
    const id = /\bid=(\d+)/.exec(adapter!)![1]!;
    expect(await control.client('KILL', 'ID', id)).toBe(1);
    await until(async () => (await readyz(node.url)) === 503, 5000, '/readyz 503');
    // The engine's own connections were never touched: it is the adapter that holds readiness back.
    expect(await readyz(node.url)).toBe(503);
    await control.config('SET', 'maxclients', '10000');
    await until(async () => (await readyz(node.url)) === 200, 15_000, '/readyz 200 again');
  });
});

describe('cluster: a second join of a room whose first join is still on its way', () => {
  it('answers as the first one does: not ok when the first fails', async () => {
    await until(async () => (await readyz(node.url)) === 200, 10_000, 'ready');
    const client = await connect(node.url, token('alice'));
    try {
      // The room subscriptions' connection is down and cannot come back: a first join waits for
      // its subscription and fails, while history (on the command connection) still answers.
      await control.config('SET', 'maxclients', '1');
      const list = String(await control.client('LIST'));
      const rooms = list.split('\n').find((line) => / name=roomcast-rooms /.test(line));
      expect(rooms, list).toBeDefined();
      await control.client('KILL', 'ID', /\bid=(\d+)/.exec(rooms!)![1]!);
      const join = () =>
        new Promise<{ ok: boolean; error?: { code: string } }>((resolve) =>
          client.emit('join', { room: 'pending:1' }, resolve),
        );
      const [first, second] = await Promise.all([join(), join()]);
      expect(first).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      expect(second).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    } finally {
      await control.config('SET', 'maxclients', '10000');
    }
    await until(async () => (await readyz(node.url)) === 200, 15_000, '/readyz 200 again');
    const again = await new Promise<{ ok: boolean }>((resolve) =>
      client.emit('join', { room: 'pending:1' }, resolve),
    );
    expect(again).toMatchObject({ ok: true, room: 'pending:1' });
    closeClients();
  });
});

describe('cluster: a message filled from history after a lost delivery', () => {
  it('is not sent to the connection that published it without echo', async () => {
    await until(async () => (await readyz(node.url)) === 200, 10_000, 'ready');
    const alice = await connect(node.url, token('alice'));
    const bob = await connect(node.url, token('bob'));
    const room = 'fill:echo';
    for (const c of [alice, bob]) expect(await request(c, 'join', { room })).toMatchObject({ ok: true });
    const toAlice = collect<Envelope>(alice, 'message');
    const toBob = collect<Envelope>(bob, 'message');
    // The node's room subscriptions are down: Alice's message is stored and acknowledged, but
    // reaches this node only from history, once they are back.
    await control.config('SET', 'maxclients', '1');
    try {
      const list = String(await control.client('LIST'));
      const rooms = list.split('\n').find((line) => / name=roomcast-rooms /.test(line));
      await control.client('KILL', 'ID', /\bid=(\d+)/.exec(rooms!)![1]!);
      await until(async () => (await readyz(node.url)) === 503, 5000, 'not ready');
      expect(await request(alice, 'publish', { room, event: 'e', data: 'mine' })).toMatchObject({ ok: true });
    } finally {
      await control.config('SET', 'maxclients', '10000');
    }
    await until(() => toBob.some((m) => m.data === 'mine'), 15_000, 'the filled message to bob');
    // Sent to each in order: had Alice got hers, it would be there before this one.
    expect(await request(bob, 'publish', { room, event: 'e', data: 'after' })).toMatchObject({ ok: true });
    await until(() => toAlice.some((m) => m.data === 'after'), 5000, 'the next message to alice');
    expect(toAlice.map((m) => m.data)).toEqual(['after']);
    closeClients();
  });
});

describe('cluster: a leave while Redis does not answer', () => {
  it('answers ok (the connection has left here), and presence drops the member once Redis is back', async () => {
    await until(async () => (await readyz(node.url)) === 200, 10_000, 'ready');
    const room = 'leave:frozen';
    const alice = await connect(node.url, token('alice'));
    const bob = await connect(node.url, token('bob'));
    for (const c of [alice, bob]) expect(await request(c, 'join', { room })).toMatchObject({ ok: true });
    redis.freeze();
    let reply: unknown;
    try {
      reply = await request(alice, 'leave', { room });
    } finally {
      redis.thaw();
    }
    expect(reply).toMatchObject({ ok: true });
    expect(await request(alice, 'leave', { room })).toMatchObject({
      ok: false,
      error: { code: 'not_joined' },
    });
    await until(
      async () => {
        const r = await request<{ members: Array<{ sub: string }> }>(bob, 'presence', { room });
        return r.ok && r.members?.map((m) => m.sub).join() === 'bob';
      },
      15_000,
      'alice gone from presence',
    );
    closeClients();
  });
});
