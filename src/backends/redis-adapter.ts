import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Cluster } from 'ioredis';
import type { RedisClients } from './redis-clients.js';
import { clusterAdapter } from './redis-cluster-adapter.js';
import { adapterChannelPrefix } from './redis-keys.js';
import type { ShardSubscriber } from './redis-shard-subscriber.js';
import type { PubSubMode } from './redis-subscriptions.js';

/**
 * The Socket.IO adapter of a cluster node: `@socket.io/redis-adapter`, used through its public
 * API for what it is good at, the namespace-wide traffic between nodes (server-side emits, which
 * carry `POST /v1/disconnect` to every node, and any plain Socket.IO broadcast).
 *
 * Room messages do not go through it: a room's publish script sends them itself, in the same
 * step that stores them (the adapter can only publish after the script, as a second command),
 * and each node subscribes to the rooms it serves, SSE streams included (see docs/cluster.md).
 * So the sharded adapter runs in `static` mode: two channels per namespace, none per room.
 * On a Redis Cluster the same channels are served by redis-cluster-adapter.ts, whose
 * subscriptions run on `shards` (roomcast's per-shard subscriber, see there why).
 *
 * @example
 * new Server(http, { adapter: socketAdapter(clients, { mode: 'sharded', keyPrefix: 'roomcast', requestTimeoutMs: 2500 }) });
 */
export function socketAdapter(
  clients: RedisClients,
  redis: { mode: PubSubMode; keyPrefix: string; requestTimeoutMs: number },
  shards?: ShardSubscriber,
): unknown {
  const prefix = adapterChannelPrefix(redis.keyPrefix);
  if (clients.kind === 'cluster' || !clients.adapter) {
    if (!shards) throw new Error('a Redis Cluster adapter needs a shard subscriber');
    return clusterAdapter(clients.pub as Cluster, shards, prefix);
  }
  return redis.mode === 'classic'
    ? createAdapter(clients.pub, clients.adapter, { key: prefix, requestsTimeout: redis.requestTimeoutMs })
    : createShardedAdapter(clients.pub, clients.adapter, {
        channelPrefix: prefix,
        subscriptionMode: 'static',
      });
}
