import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisTarget } from '../../src/config.js';
import { until } from '../helpers/broker.js';
import { startNode, type TestNode } from '../helpers/redis-engine.js';
import {
  type RedisClusterHandle,
  type SentinelSet,
  startRedisCluster,
  startSentinelSet,
} from '../helpers/redis-topologies.js';
import { engineSuite } from './engine-suite.js';

/**
 * The engine contract (engine-suite.ts) on a 3-shard Redis Cluster and through Sentinel, as on one
 * Redis (redis.test.ts): offsets, history, idempotency, presence, rooms and delivery between two
 * nodes. Room names in the suite land on different shards; presence on a Cluster writes the room,
 * the node set and the rooms index with no script crossing slots.
 */
let cluster: RedisClusterHandle;
let sentinels: SentinelSet;
let clusterTarget: RedisTarget;
let sentinelTarget: RedisTarget;

beforeAll(async () => {
  [cluster, sentinels] = await Promise.all([
    startRedisCluster({ primaries: 3, replicasPerPrimary: 0 }),
    startSentinelSet(),
  ]);
  clusterTarget = { kind: 'cluster', nodes: cluster.seeds, password: null, tls: false };
  sentinelTarget = {
    kind: 'sentinel',
    sentinels: sentinels.sentinels,
    name: sentinels.masterName,
    sentinelPassword: null,
    password: null,
    tls: false,
  };
}, 60_000);
afterAll(async () => {
  await Promise.all([cluster?.stop(), sentinels?.stop()]);
});

for (const [name, target] of [
  ['redis cluster', () => clusterTarget],
  ['redis sentinel', () => sentinelTarget],
] as const) {
  engineSuite(name, async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const [a, b] = await Promise.all([startNode(target(), { prefix }), startNode(target(), { prefix })]);
    return {
      a: a.engine,
      b: b.engine,
      sinkA: a.sink,
      sinkB: b.sink,
      close: async () => {
        await Promise.all([a.close(), b.close()]);
      },
      keysPerRoom: name === 'redis cluster',
    };
  });
}

describe('redis cluster engine: a node that dies', () => {
  it("removes a dead node's members from rooms on every shard, once, with no ghost", async () => {
    const prefix = `t${randomUUID().slice(0, 8)}`;
    const nodes = await Promise.all([0, 1].map(() => startNode(clusterTarget, { prefix })));
    const dead = await startNode(clusterTarget, { prefix });
    const [a, b] = nodes as [TestNode, TestNode];
    const rooms = Array.from({ length: 6 }, (_, i) => `d${i}`);
    await Promise.all([a, b].flatMap((n) => rooms.map((r) => n.engine.watch('/', r))));
    for (const [i, room] of rooms.entries())
      await dead.engine.addMember('/', room, { sub: 'gone', info: null }, `d${i}`);
    await a.engine.addMember('/', rooms[0]!, { sub: 'stays', info: null }, 'a1');
    expect((await b.engine.rooms('/', 'd')).length).toBe(6);
    dead.client.disconnect(); // no goodbye: its heartbeat stops
    const leaves = (n: TestNode) => n.sink.events.filter((e) => e.event.action === 'leave');
    await until(() => leaves(a).length >= 6 && leaves(b).length >= 6, 10_000, 'leave events');
    await until(async () => (await b.engine.rooms('/', 'd')).length === 1, 3000, 'rooms without ghosts');
    expect(await b.engine.rooms('/', 'd')).toEqual([{ room: 'd0', members: 1, connections: 1 }]);
    expect(
      leaves(a)
        .map((e) => e.event.room)
        .sort(),
    ).toEqual(rooms);
    await Promise.all([a.close(), b.close(), dead.close()]);
  });
});
