import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import {
  closeClients,
  collect,
  connect,
  nextEvent,
  type RunningBroker,
  request,
  token,
  until,
  within,
} from '../helpers/broker.js';
import { api, startCluster } from '../helpers/cluster.js';
import { type ModeRedis, modesFromEnv, type RedisMode, startModeRedis } from '../helpers/redis-modes.js';
import { readyz, redisOutageDuringStream } from './stream-scenario.js';

/**
 * Redis faults in each of the three modes (test/helpers/redis-modes.ts says what "the Redis" is in
 * each): away (killed) and back without its data, frozen, the room subscriptions dropped, and a node
 * started while it is away. One deployment per mode serves every test of that mode (each test uses
 * rooms of its own and leaves Redis up); the brokers are new for each test.
 * `ROOMCAST_REDIS_MODES=url` runs one mode only.
 */
describe.each(modesFromEnv())(
  'cluster: Redis faults, %s mode (brokers in this process)',
  (mode: RedisMode) => {
    let redis: ModeRedis;
    let nodes: RunningBroker[] = [];
    const startNodes = async (n: number) => {
      nodes = await startCluster(n, '', redis.config);
      return nodes;
    };

    beforeAll(async () => {
      redis = await startModeRedis(mode);
    }, 60_000);
    afterEach(async () => {
      closeClients();
      await Promise.all(nodes.map((n) => n.close()));
      nodes = [];
      await redis.ensureUp();
    });
    afterAll(async () => {
      await redis?.stop();
    });

    it('survives Redis killed for 2 s during a steady stream (data lost: a new epoch)', async () => {
      await startNodes(3);
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
      await startNodes(2);
      const alice = await connect(nodes[0]!.url, token('alice'));
      const joined = await request<{ epoch: string }>(alice, 'join', { room: 'chat:epoch' });
      const pub = await connect(nodes[1]!.url, token('pub'));
      for (let i = 0; i < 3; i++) await request(pub, 'publish', { room: 'chat:epoch', event: 'e', data: i });
      await redis.kill();
      await redis.restart();
      for (const n of nodes) await until(async () => (await readyz(n.url)) === 200, 15_000, 'ready again');
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

    it('carries disconnect-by-user between nodes again after Redis was away (the adapter subscribed again)', async () => {
      await startNodes(2);
      await redis.kill();
      const downAt = Date.now();
      for (const n of nodes) await until(async () => (await readyz(n.url)) === 503, 5000, '/readyz 503');
      // Away long enough for the clients to give every node up (a Redis Cluster client then starts
      // over from its seed nodes; ioredis's own sharded subscribers did not come back from that).
      await until(() => Date.now() - downAt >= 2000, 5000, 'a 2 s outage');
      await redis.restart();
      for (const n of nodes) await until(async () => (await readyz(n.url)) === 200, 15_000, 'ready again');
      const erin = await connect(nodes[0]!.url, token('erin'));
      await request(erin, 'join', { room: 'chat:adapter' });
      // The request crosses nodes only through the Socket.IO adapter's channels.
      await until(
        async () =>
          (await api(nodes[1]!.url, 'POST', '/v1/disconnect', { sub: 'erin' })).body.disconnected === 1,
        10_000,
        'erin disconnected through the other node',
      );
      await until(() => !erin.connected, 5000, 'erin closed');
    }, 30_000);

    it('keeps serving and answers unavailable when Redis is frozen', async () => {
      await startNodes(2);
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

    it('answers POST /v1/disconnect 503 when the other nodes cannot be reached, not ok for this node alone', async () => {
      await startNodes(2);
      const here = await connect(nodes[0]!.url, token('uma'));
      const there = await connect(nodes[1]!.url, token('uma'));
      await redis.kill();
      for (const n of nodes) await until(async () => (await readyz(n.url)) === 503, 5000, '/readyz 503');
      const res = await within(
        api(nodes[0]!.url, 'POST', '/v1/disconnect', { sub: 'uma' }),
        5000,
        'disconnect',
      );
      expect(res.status).toBe(503);
      expect(res.body.error).toMatchObject({
        code: 'unavailable',
        message: expect.stringMatching(/other nodes/),
      });
      await until(() => !here.connected, 3000, 'the connection on this node closed');
      expect(there.connected).toBe(true);
      // Once Redis is back the same call reaches the other node.
      await redis.restart();
      for (const n of nodes) await until(async () => (await readyz(n.url)) === 200, 15_000, 'ready again');
      const again = await api(nodes[0]!.url, 'POST', '/v1/disconnect', { sub: 'uma' });
      expect(again.body).toMatchObject({ ok: true, disconnected: 1 });
      await until(() => !there.connected, 3000, 'the connection on the other node closed');
    }, 60_000);

    it('closes within the grace period when Redis is frozen, a publish in flight', async () => {
      nodes = await startCluster(1, '', redis.config, { shutdownGraceMs: 1000 });
      const alice = await connect(nodes[0]!.url, token('alice'));
      await request(alice, 'join', { room: 'chat:sigterm' });
      const closing = nextEvent(alice, 'closing');
      redis.freeze();
      alice.emit('publish', { room: 'chat:sigterm', event: 'e', data: 1 }, () => undefined);
      // Each of the backend's waits on Redis was as long as a request may take (2.5 s): 7.5 s in all.
      await within(nodes[0]!.close(), 3000, 'close with Redis frozen and a 1 s grace period');
      expect(await closing).toMatchObject({ code: 'shutting_down' });
    }, 30_000);

    it('fills from history what a node missed while its subscriptions were down, once each and in order', async () => {
      await startNodes(2);
      const alice = await connect(nodes[0]!.url, token('alice'));
      const bob = await connect(nodes[1]!.url, token('bob'));
      for (const c of [alice, bob]) await request(c, 'join', { room: 'chat:fill' });
      const got = collect<Envelope>(bob, 'message');
      await request(alice, 'publish', { room: 'chat:fill', event: 'e', data: 0 });
      await until(() => got.length === 1, 3000, 'the first message');
      // Drop every subscriber connection; node 1 misses what is published until it has resubscribed.
      expect(await redis.killClients('roomcast-rooms')).toBe(2);
      for (let i = 1; i <= 20; i++) {
        expect(await request(alice, 'publish', { room: 'chat:fill', event: 'e', data: i })).toMatchObject({
          ok: true,
        });
      }
      await until(() => got.length >= 21, 10_000, 'every message on node 1');
      expect(got.map((m) => m.data)).toEqual(Array.from({ length: 21 }, (_, i) => i));
      expect(got.map((m) => m.offset)).toEqual(Array.from({ length: 21 }, (_, i) => i + 1));
    }, 30_000);

    it('starts while Redis is away: serves, not ready, and becomes ready when Redis comes', async () => {
      await redis.kill();
      await startNodes(1);
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
      await startNodes(2);
      const bob = await connect(nodes[1]!.url, token('bob'));
      for (const room of ['chat:kept', 'chat:left']) await request(bob, 'join', { room });
      await redis.kill();
      // Left on this node at once (ok), the membership in Redis goes once Redis is back.
      expect(await request(bob, 'leave', { room: 'chat:left' })).toMatchObject({ ok: true });
      const during = await request(bob, 'join', { room: 'chat:during' });
      expect(during).toMatchObject({ ok: false, error: { code: 'unavailable' } });
      await redis.restart();
      for (const n of nodes) await until(async () => (await readyz(n.url)) === 200, 10_000, 'ready');
      const channels = async () => {
        const reply = await redis.command('PUBSUB', 'SHARDCHANNELS', '*chat:*');
        return ['kept', 'left', 'during'].filter((r) => reply.includes(`chat:${r}}:m`));
      };
      await until(async () => (await channels()).join() === 'kept', 5000, 'only chat:kept subscribed');
      const got = collect<Envelope>(bob, 'message');
      const alice = await connect(nodes[0]!.url, token('alice'));
      await request(alice, 'publish', { room: 'chat:kept', event: 'e', data: 'after' });
      await until(() => got.some((m) => m.data === 'after'), 5000, 'delivery after the outage');
    }, 30_000);
  },
);
