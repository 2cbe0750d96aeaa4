import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Namespace } from 'socket.io';
import type { RedisClients } from './redis-clients.js';
import { adapterChannelPrefix } from './redis-keys.js';
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
 *
 * @example
 * new Server(http, { adapter: socketAdapter(clients, { mode: 'sharded', keyPrefix: 'roomcast', requestTimeoutMs: 2500 }) });
 */
export function socketAdapter(
  clients: RedisClients,
  redis: { mode: PubSubMode; keyPrefix: string; requestTimeoutMs: number },
): (nsp: Namespace) => unknown {
  const prefix = adapterChannelPrefix(redis.keyPrefix);
  return redis.mode === 'classic' && clients.kind !== 'cluster'
    ? createAdapter(clients.pub, clients.adapter, { key: prefix, requestsTimeout: redis.requestTimeoutMs })
    : createShardedAdapter(clients.pub, clients.adapter, {
        channelPrefix: prefix,
        subscriptionMode: 'static',
      });
}
