import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShardSubscriber } from '../../src/backends/redis-shard-subscriber.js';
import { within } from '../helpers/broker.js';
import { type RedisClusterHandle, slotOf, startRedisCluster } from '../helpers/redis-topologies.js';

/**
 * The per-shard subscriber of a Redis Cluster (rooms and the Socket.IO adapter): a subscription
 * to a channel whose shard is away waits; dropped meanwhile, its waiter is settled, not left for
 * the channel to attach one day (a room nobody rejoins never does). An SSUBSCRIBE sent on a stale
 * slot map (answered MOVED) holds up no other channel of that shard.
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

  it('does not let an SSUBSCRIBE answered MOVED hold up the other channels of its shard', async () => {
    // A client of its own that never refreshes its slot map by itself: after the migration below
    // its map still names the old owner, as a node's does until the next refresh.
    const stale = new Cluster(cluster.seeds, { lazyConnect: true });
    stale.on('error', () => undefined);
    await stale.connect();
    // Far longer than the bound below: only a failure handled at once lets the second channel in.
    const s = new ShardSubscriber(stale, { subscribeTimeoutMs: 120_000 });
    const debug: string[] = [];
    s.on('debug', (msg: string) => debug.push(msg));
    try {
      const moved = 'moved:{m}';
      const from = await cluster.primaryOf(moved);
      let stay = '';
      for (let i = 0; !stay; i++) {
        const candidate = `stay:{${i}}`;
        if ((await cluster.primaryOf(candidate)).port === from.port && slotOf(candidate) !== slotOf(moved))
          stay = candidate;
      }
      const to = (await cluster.nodes()).find(
        (n) => n.role === 'primary' && n.alive && n.port !== from.port,
      )!;
      await cluster.migrateSlot(moved, to.port);
      // Sent to the old owner, which answers MOVED; ioredis drops such an SSUBSCRIBE unsettled.
      await within(s.subscribe(moved), 10_000, 'the moved channel, on its new owner');
      expect(s.attachments()[moved]).toBe(`${to.host}:${to.port}`);
      // The case under test did happen: the old owner answered MOVED.
      expect(debug.some((m) => m.includes(`MOVED on ${from.host}:${from.port}`))).toBe(true);
      await within(s.subscribe(stay), 10_000, 'a channel of the old owner, subscribed after the MOVED');
      expect(s.attachments()[stay]).toBe(`${from.host}:${from.port}`);
    } finally {
      s.close();
      stale.disconnect();
    }
  }, 60_000);
});
