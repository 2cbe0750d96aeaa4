import type { Cluster } from 'ioredis';
import type { Config, RedisTarget } from '../config.js';
import type { Logger } from '../logger.js';
import type { DeliverySink } from '../rooms/engine.js';
import type { Backend } from './index.js';
import { socketAdapter } from './redis-adapter.js';
import { createRedisClients } from './redis-clients.js';
import { createRedisEngine } from './redis-engine.js';
import { ShardSubscriber } from './redis-shard-subscriber.js';

/** How long a new node waits for Redis before it starts anyway (not ready, retrying). */
const STARTUP_WAIT_MS = 5000;

/**
 * Cluster mode over Redis (`redis.url`, `redis.sentinels` or `redis.cluster` set): the node's Redis connections (redis-clients.ts), the
 * Redis engine (offsets, history, presence, idempotency, room delivery), and the Socket.IO adapter
 * for traffic between nodes.
 *
 * Ready means: the command and publish connections are up, the room subscriptions are live (after
 * a reconnect: every room subscribed again), presence is registered, and the Socket.IO adapter's
 * subscriptions are back (one primary or Sentinel: its subscriber is connected; a Redis Cluster:
 * its channels are attached on their shards): without them, a cluster-wide request right after an
 * outage (`POST /v1/disconnect`) counted only the nodes whose adapter was back, and answered ok
 * without the others. `/readyz` answers 503
 * otherwise; the node keeps serving its local connections throughout, and a publish is refused
 * with `unavailable` only when its script cannot run.
 *
 * @example
 * const backend = await createRedisBackend(config, log, hub);
 * const io = new Server(http, { adapter: backend.adapter as never });
 */
export async function createRedisBackend(config: Config, log: Logger, sink: DeliverySink): Promise<Backend> {
  const r = config.redis;
  const target = r.target;
  if (!target) throw new Error('createRedisBackend needs redis.url, redis.sentinels or redis.cluster');
  const clog = log.child({ component: 'cluster' });
  const clients = createRedisClients(target, { requestTimeoutMs: r.requestTimeoutMs, log: clog });
  const engine = createRedisEngine(clients, sink, {
    prefix: r.keyPrefix,
    mode: r.mode,
    presenceTtlMs: r.presenceTtlMs,
    heartbeatMs: r.heartbeatMs,
    requestTimeoutMs: r.requestTimeoutMs,
    failover: target.kind !== 'url' || r.failoverCheck,
    log: clog,
  });
  // On a Redis Cluster the Socket.IO adapter's channels get per-shard connections of their own.
  const shards =
    clients.kind === 'cluster'
      ? new ShardSubscriber(clients.command as Cluster, {
          redisOptions: clients.nodeOptions,
          connectionName: 'roomcast-adapter',
        })
      : undefined;
  if (!(await waitFor(engine.isReady, STARTUP_WAIT_MS))) {
    clog.warn({ redis: describe(target) }, 'redis is not reachable yet; starting not ready and retrying');
  }
  clog.info({ mode: r.mode, redis: describe(target), prefix: r.keyPrefix }, 'cluster mode over redis');
  const adapterSubscriber = clients.adapter;
  return {
    engine,
    isReady: adapterSubscriber
      ? () => engine.isReady() && adapterSubscriber.status === 'ready'
      : shards
        ? () => engine.isReady() && shards.allAttached()
        : () => engine.isReady(),
    adapter: socketAdapter(clients, r, shards),
    async close() {
      await engine.close();
      shards?.close();
      await clients.close();
    },
  };
}

async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/** Where Redis is, for the log (no passwords). */
function describe(target: RedisTarget): string {
  const list = (nodes: Array<{ host: string; port: number }>) =>
    nodes.map((n) => `${n.host}:${n.port}`).join(',');
  if (target.kind === 'url') return redactUrl(target.url);
  if (target.kind === 'sentinel') return `sentinel ${target.name} via ${list(target.sentinels)}`;
  return `redis cluster via ${list(target.nodes)}`;
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
