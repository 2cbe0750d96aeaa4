import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShardSubscriber } from '../../src/backends/redis-shard-subscriber.js';
import { within } from '../helpers/broker.js';
import { type RedisClusterHandle, startRedisCluster } from '../helpers/redis-topologies.js';

/**
 * The per-shard subscriber of a Redis Cluster (rooms and the Socket.IO adapter): a subscription
 * to a channel whose shard is away waits; dropped meanwhile, its waiter is settled, not left for
 * the channel to attach one day (a room nobody rejoins never does).
 */
let cluster: RedisClusterHandle;
let client: Cluster;
let sub: ShardSubscriber;

beforeAll(async () => {
  cluster = await startRedisCluster({ primaries: 3, replicasPerPrimary: 0, persist: true });
  client = new Cluster(cluster.seeds, { lazyConnect: true });
  client.on('error', () => undefined);
  await client.connect();
  sub = new ShardSubscriber(client, { reconcileIntervalMs: 200 });
  sub.on('debug', () => undefined);
}, 60_000);
afterAll(async () => {
  sub?.close();
  client?.disconnect();
  await cluster?.stop();
});

describe('ShardSubscriber', () => {
  it('settles a subscription to a shard that is away when the channel is dropped, and attaches once it is back', async () => {
    await within(sub.subscribe('up:{a}'), 10_000, 'a subscription on a live shard');
    const owner = (await cluster.primaryOf('away:{b}')).port;
    await cluster.kill(owner);
    const waiting = sub.subscribe('away:{b}');
    const outcome = waiting.then(
      () => 'attached',
      (err: Error) => err.message,
    );
    sub.unsubscribe('away:{b}');
    expect(await within(outcome, 2000, 'the dropped subscription settled')).toMatch(/unsubscribed/);
    const again = sub.subscribe('away:{b}');
    await cluster.restart(owner);
    await cluster.waitForHealthy(20_000);
    await within(again, 20_000, 'the subscription once the shard is back');
    expect(sub.isAttached('away:{b}')).toBe(true);
  }, 60_000);
});
