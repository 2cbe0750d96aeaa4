import { afterEach, describe, expect, it } from 'vitest';
import { roomKeys } from '../../src/backends/redis-keys.js';
import type { RunningBroker } from '../helpers/broker.js';
import { api, startCluster } from '../helpers/cluster.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * `redis.failoverCheck` with `redis.url`: an endpoint that fails over behind one address gets the
 * check Sentinel and Cluster modes always have (docs/cluster.md, the failover guarantee). A room
 * last written by another primary starts a new epoch; without the check, the URL mode keeps no
 * lineage at all.
 */
let redis: TestRedis | undefined;
let nodes: RunningBroker[] = [];
afterEach(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  nodes = [];
  await redis?.stop();
  redis = undefined;
});

const publish = async (url: string, room: string) => {
  const res = await api(url, 'POST', '/v1/publish', { room, event: 'e', data: 1 });
  expect(res.status).toBe(200);
  return (res.body.results as Array<{ offset: number; epoch: string }>)[0]!;
};

describe('redis.failoverCheck (one address)', () => {
  it('on: a room whose last writes another primary took starts a new epoch', async () => {
    redis = await startRedis();
    nodes = await startCluster(1, redis.url, { failoverCheck: true });
    const url = nodes[0]!.url;
    const first = await publish(url, 'fc:on');
    expect(await publish(url, 'fc:on')).toMatchObject({ epoch: first.epoch, offset: 2 });
    const stream = roomKeys(nodes[0]!.broker.config.redis.keyPrefix, '/', 'fc:on').stream;
    expect(await redis.command('HGET', stream, 'r')).toMatch(/^\$40\r\n[0-9a-f]{40}\r\n$/);
    // As if a promoted replica that lacks this primary's last writes now served the address.
    await redis.command('HSET', stream, 'r', 'f'.repeat(40), 'n', 'e'.repeat(40));
    const after = await publish(url, 'fc:on');
    expect(after.epoch).not.toBe(first.epoch);
    expect(after.offset).toBe(1);
  });

  it('off (the default): the URL mode writes no lineage, and the epoch goes on', async () => {
    redis = await startRedis();
    nodes = await startCluster(1, redis.url);
    const url = nodes[0]!.url;
    const first = await publish(url, 'fc:off');
    const stream = roomKeys(nodes[0]!.broker.config.redis.keyPrefix, '/', 'fc:off').stream;
    expect(await redis.command('HGET', stream, 'r')).toBe('$-1\r\n');
    expect(await publish(url, 'fc:off')).toMatchObject({ epoch: first.epoch, offset: 2 });
  });
});
