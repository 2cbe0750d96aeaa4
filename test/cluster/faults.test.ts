import { afterEach, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import {
  closeClients,
  collect,
  connect,
  type RunningBroker,
  request,
  token,
  until,
  within,
} from '../helpers/broker.js';
import { startCluster } from '../helpers/cluster.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { readyz, redisOutageDuringStream } from './stream-scenario.js';

let redis: TestRedis | undefined;
let nodes: RunningBroker[] = [];

afterEach(async () => {
  closeClients();
  await Promise.all(nodes.map((n) => n.close()));
  nodes = [];
  await redis?.stop();
});

describe('cluster: Redis faults (three brokers in this process)', () => {
  it('survives Redis killed for 2 s during a steady stream (data lost: a new epoch)', async () => {
    redis = await startRedis();
    nodes = await startCluster(3, redis.url);
    const result = await redisOutageDuringStream(
      nodes.map((n) => n.url),
      redis,
      2000,
      'chat:stream2',
    );
    expect(result.refused).toBeGreaterThan(0);
    expect(result.acked).toBeGreaterThanOrEqual(50);
  }, 60_000);

  it('starts a new epoch when Redis comes back without its data: recovered false for a stale since', async () => {
    redis = await startRedis();
    nodes = await startCluster(2, redis.url);
    const alice = await connect(nodes[0]!.url, token('alice'));
    const joined = await request<{ epoch: string }>(alice, 'join', { room: 'chat:epoch' });
    const pub = await connect(nodes[1]!.url, token('pub'));
    for (let i = 0; i < 3; i++) await request(pub, 'publish', { room: 'chat:epoch', event: 'e', data: i });
    await redis.kill();
    await redis.restart();
    await until(async () => (await readyz(nodes[1]!.url)) === 200, 10_000, 'ready again');
    const ack = await request<{ offset: number; epoch: string }>(pub, 'publish', {
      room: 'chat:epoch',
      event: 'e',
      data: 'new',
    });
    expect(ack).toMatchObject({ ok: true, offset: 1 });
    expect(ack.epoch).not.toBe(joined.epoch);
    const bob = await connect(nodes[0]!.url, token('bob'));
    const reply = await request(bob, 'join', {
      room: 'chat:epoch',
      since: { offset: 3, epoch: joined.epoch },
    });
    expect(reply).toMatchObject({ ok: true, recovered: false, offset: 1, epoch: ack.epoch });
    const history = await request(bob, 'history', { room: 'chat:epoch' });
    expect((history.messages as Envelope[]).map((m) => m.data)).toEqual(['new']);
    // Presence was registered again: alice is still a member.
    const presence = await request(bob, 'presence', { room: 'chat:epoch' });
    expect((presence.members as Array<{ sub: string }>).map((m) => m.sub).sort()).toEqual(['alice', 'bob']);
  }, 30_000);

  it('keeps serving and answers unavailable when Redis is frozen', async () => {
    redis = await startRedis();
    nodes = await startCluster(2, redis.url);
    const alice = await connect(nodes[0]!.url, token('alice'));
    await request(alice, 'join', { room: 'chat:frozen' });
    redis.freeze();
    const ack = await within(
      request(alice, 'publish', { room: 'chat:frozen', event: 'e', data: 1 }),
      3000,
      'publish with Redis frozen',
    );
    expect(ack).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    redis.thaw();
    await until(
      async () => (await request(alice, 'publish', { room: 'chat:frozen', event: 'e', data: 2 })).ok,
      10_000,
      'publish ok again',
    );
  }, 30_000);

  it('sends a room message again when its SPUBLISH failed after the offset was stored', async () => {
    redis = await startRedis();
    nodes = await startCluster(2, redis.url);
    const alice = await connect(nodes[0]!.url, token('alice'));
    const bob = await connect(nodes[1]!.url, token('bob'));
    for (const c of [alice, bob]) await request(c, 'join', { room: 'chat:retry' });
    const got = collect<Envelope>(bob, 'message');
    // Redis takes the script but refuses SPUBLISH: acknowledged, not yet delivered to node 1.
    expect(await redis.command('ACL', 'SETUSER', 'default', '-spublish')).toContain('OK');
    const ack = await request(alice, 'publish', { room: 'chat:retry', event: 'e', data: 'kept' });
    expect(ack).toMatchObject({ ok: true, offset: 1 });
    expect(await redis.command('ACL', 'SETUSER', 'default', '+spublish')).toContain('OK');
    await until(() => got.some((m) => m.offset === 1 && m.data === 'kept'), 5000, 'the message sent again');
  }, 30_000);

  it('starts while Redis is away: serves, not ready, and becomes ready when Redis comes', async () => {
    redis = await startRedis();
    await redis.kill();
    nodes = await startCluster(1, redis.url);
    expect(await readyz(nodes[0]!.url)).toBe(503);
    const alice = await connect(nodes[0]!.url, token('alice'));
    expect(await request(alice, 'publish', { room: 'chat:late', event: 'e', data: 1 })).toMatchObject({
      ok: false,
      error: { code: 'unavailable' },
    });
    await redis.restart();
    await until(async () => (await readyz(nodes[0]!.url)) === 200, 10_000, 'ready');
    expect(await request(alice, 'join', { room: 'chat:late' })).toMatchObject({ ok: true });
    expect(await request(alice, 'publish', { room: 'chat:late', event: 'e', data: 2 })).toMatchObject({
      ok: true,
    });
  }, 30_000);

  it('applies joins and leaves made while Redis was away to its subscriptions once it is back', async () => {
    redis = await startRedis();
    nodes = await startCluster(2, redis.url);
    const bob = await connect(nodes[1]!.url, token('bob'));
    for (const room of ['chat:kept', 'chat:left']) await request(bob, 'join', { room });
    await redis.kill();
    expect(await request(bob, 'leave', { room: 'chat:left' })).toMatchObject({ ok: false });
    const during = await request(bob, 'join', { room: 'chat:during' });
    expect(during).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    await redis.restart();
    for (const n of nodes) await until(async () => (await readyz(n.url)) === 200, 10_000, 'ready');
    const channels = async () => {
      const reply = await redis!.command('PUBSUB', 'SHARDCHANNELS', '*chat:*');
      return ['kept', 'left', 'during'].filter((r) => reply.includes(`chat:${r}#`));
    };
    await until(async () => (await channels()).join() === 'kept', 5000, 'only chat:kept subscribed');
    const got = collect<Envelope>(bob, 'message');
    const alice = await connect(nodes[0]!.url, token('alice'));
    await request(alice, 'publish', { room: 'chat:kept', event: 'e', data: 'after' });
    await until(() => got.some((m) => m.data === 'after'), 5000, 'delivery after the outage');
  }, 30_000);
});
