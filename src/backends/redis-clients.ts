import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from '../config.js';
import type { Logger } from '../logger.js';
import { settlesWithin } from './deadline.js';

/**
 * The Redis connections of a cluster node, created once per broker, each with an `error`
 * listener, all closed by `close()`.
 *
 * - `command`: the engine's scripts and reads (every publish is one script here).
 * - `pub`: presence events, and the Socket.IO adapter's messages between nodes.
 * - `rooms`: this node's room subscriptions (redis-subscriptions.ts decides them; ioredis's own
 *   resubscription is off).
 * - `adapter`: the Socket.IO adapter's own subscriptions (its namespace and response channels;
 *   ioredis resubscribes them after a reconnect, and queues them while Redis is away). None on a
 *   Redis Cluster: there the adapter subscribes through a per-shard subscriber of its own
 *   (redis-cluster-adapter.ts).
 *
 * Every connection but `adapter` fails fast: no offline queue, no retries, a command timeout and
 * no resend after a reconnect. While Redis is away a call fails at once (`unavailable`), and a
 * publish the caller was told failed is never replayed later.
 */
export interface RedisClients {
  /** `single`: one primary (a URL, or the one Sentinel names); `cluster`: a Redis Cluster. */
  readonly kind: 'single' | 'cluster';
  readonly command: Redis | Cluster;
  readonly pub: Redis | Cluster;
  /** The room subscriptions' connection; null on a Redis Cluster (one per shard, redis-shard-subscriber.ts). */
  readonly rooms: Redis | null;
  readonly adapter: Redis | null;
  /** Options for one more connection to a data node (TLS, password): the shard subscriber's. */
  readonly nodeOptions: RedisOptions;
  close(): Promise<void>;
}

/**
 * A connection `@socket.io/redis-adapter` is given (`pub` and `adapter`). That adapter sends some
 * commands without awaiting them: its (un)subscribes, when a namespace's adapter is made and in its
 * `close()`, and in classic mode the publishes of `serverSideEmit`. One that fails would be an
 * unhandled rejection, and a Node process that embeds the broker exits on one (`main` only logs it).
 * They fail when Redis is away, and when the node closes while its adapter connection is still
 * reconnecting: an UNSUBSCRIBE waiting in the offline queue is then rejected ("Connection is
 * closed."). So every command's promise gets a handler here, through `sendCommand`, the public
 * method every ioredis command goes through; a caller that awaits the command still gets its error.
 */
class AdapterConnection extends Redis {
  override sendCommand(...args: Parameters<Redis['sendCommand']>): unknown {
    const reply = super.sendCommand(...args);
    if (reply instanceof Promise) reply.catch(() => undefined);
    return reply;
  }
}

/** Reconnect quickly after an outage (at most every 500 ms), so nodes come back close together. */
export const retryStrategy = (times: number): number => Math.min(50 * times, 500);

/** Options of a connection whose calls must fail fast while Redis is away. */
export function failFastOptions(requestTimeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: requestTimeoutMs,
    connectTimeout: Math.max(requestTimeoutMs, 1000),
    retryStrategy,
  };
}

/**
 * How to reach the primary: a URL, or through Sentinel. With Sentinel, ioredis asks the sentinels
 * for the primary on every (re)connect, learns the other sentinels (`updateSentinels`), drops its
 * connection as soon as a sentinel announces `+switch-master` (`failoverDetector`: without it a
 * node stays on a demoted primary until Sentinel kills its clients, and its writes there are lost),
 * and reconnects when a write meets a replica (`READONLY`).
 */
export function primaryOptions(target: Exclude<RedisTarget, { kind: 'cluster' }>): RedisOptions {
  if (target.kind === 'url') return {};
  const tls = target.tls ? {} : undefined;
  return {
    sentinels: target.sentinels,
    name: target.name,
    sentinelPassword: target.sentinelPassword ?? undefined,
    password: target.password ?? undefined,
    failoverDetector: true,
    updateSentinels: true,
    sentinelRetryStrategy: (times: number) => Math.min(100 * times, 1000),
    reconnectOnError: (err: Error) => (err.message.startsWith('READONLY') ? 1 : false),
    ...(tls ? { sentinelTLS: tls, tls, enableTLSForSentinelMode: true } : {}),
  };
}

/**
 * Creates the four connections for `target` (a URL, Sentinel, or a Redis Cluster).
 *
 * @example
 * const clients = createRedisClients({ kind: 'url', url: 'redis://127.0.0.1:6379/0', tls: false }, { requestTimeoutMs: 2500, log });
 * await clients.close();
 */
export function createRedisClients(
  target: RedisTarget,
  opts: { requestTimeoutMs: number; log: Logger },
): RedisClients {
  if (target.kind === 'cluster') return createClusterClients(target, opts);
  const fast = failFastOptions(opts.requestTimeoutMs);
  const base = primaryOptions(target);
  const open = (o: RedisOptions, Connection: typeof Redis = Redis) =>
    target.kind === 'url' ? new Connection(target.url, { ...base, ...o }) : new Connection({ ...base, ...o });
  const command = open({ ...fast, connectionName: 'roomcast-command' });
  const pub = open({ ...fast, connectionName: 'roomcast-pub' }, AdapterConnection);
  const rooms = open({
    ...fast,
    commandTimeout: undefined,
    autoResubscribe: false,
    connectionName: 'roomcast-rooms',
  });
  const adapter = open(
    {
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      autoResubscribe: true,
      connectTimeout: fast.connectTimeout,
      retryStrategy,
      connectionName: 'roomcast-adapter',
    },
    AdapterConnection,
  );
  return finish('single', { command, pub, rooms, adapter }, base, opts);
}

/**
 * Redis Cluster: ioredis Cluster clients for commands (a script runs on the shard that owns its
 * room's slot; `defineCommand` sends EVALSHA and falls back to EVAL on a newly promoted primary),
 * retried through a failover up to about `requestTimeoutMs`, the slot map refreshed every second.
 * `rooms` and `adapter` are null: room channels and the Socket.IO adapter's channels get one
 * connection per shard (redis-shard-subscriber.ts), routed by the `command` client's slot map.
 */
function createClusterClients(
  target: Extract<RedisTarget, { kind: 'cluster' }>,
  opts: { requestTimeoutMs: number; log: Logger },
): RedisClients {
  const fast = failFastOptions(opts.requestTimeoutMs);
  const nodeOptions: RedisOptions = {
    password: target.password ?? undefined,
    ...(target.tls ? { tls: {} } : {}),
  };
  const retryMs = 100;
  const clusterOptions = (name: string, extra: ClusterOptions = {}): ClusterOptions => ({
    scaleReads: 'master',
    slotsRefreshInterval: 1000,
    slotsRefreshTimeout: Math.max(1000, Math.min(opts.requestTimeoutMs, 2000)),
    retryDelayOnFailover: retryMs,
    retryDelayOnClusterDown: retryMs,
    retryDelayOnTryAgain: retryMs,
    maxRedirections: Math.max(4, Math.ceil(opts.requestTimeoutMs / retryMs)),
    clusterRetryStrategy: retryStrategy,
    enableOfflineQueue: false,
    redisOptions: {
      ...nodeOptions,
      commandTimeout: fast.commandTimeout,
      connectTimeout: fast.connectTimeout,
      maxRetriesPerRequest: 0,
      connectionName: name,
    },
    ...extra,
  });
  const command = new Cluster(target.nodes, clusterOptions('roomcast-command'));
  const pub = new Cluster(target.nodes, clusterOptions('roomcast-pub'));
  return finish('cluster', { command, pub, rooms: null, adapter: null }, nodeOptions, opts);
}

function finish(
  kind: RedisClients['kind'],
  all: { command: Redis | Cluster; pub: Redis | Cluster; rooms: Redis | null; adapter: Redis | null },
  nodeOptions: RedisOptions,
  opts: { requestTimeoutMs: number; log: Logger },
): RedisClients {
  const list = Object.entries(all).filter((e): e is [string, Redis | Cluster] => e[1] !== null);
  const state = { closing: false };
  for (const [name, client] of list) {
    watch(client, name, opts.log);
    if (client instanceof Redis) reviveOnEnd(client, name, state, opts.log);
  }
  return {
    kind,
    ...all,
    nodeOptions,
    async close() {
      state.closing = true;
      await Promise.all(list.map(([, c]) => closeClient(c, opts.requestTimeoutMs)));
    },
  };
}

/**
 * ioredis gives a connection up for good ('end') when its connector fails outright, and with
 * Sentinel that happens when the failover detector drops the connection while it is still asking
 * the sentinels for the primary: the connector then reports "Connection is closed." as an error
 * just before 'end'. Such a connection connects again until `close()`; one closed on purpose
 * (`disconnect()`, `quit()`) stays closed.
 */
function reviveOnEnd(client: Redis, name: string, state: { closing: boolean }, log: Logger): void {
  let attempts = 0;
  let aborted = false;
  client.on('error', (err: Error) => {
    if (err.message === 'Connection is closed.') aborted = true;
  });
  client.on('ready', () => {
    attempts = 0;
    aborted = false;
  });
  client.on('end', () => {
    if (state.closing || !aborted) return;
    aborted = false;
    const delay = retryStrategy(++attempts);
    log.warn({ client: name, delay }, 'redis connection given up by ioredis; connecting again');
    setTimeout(() => {
      if (!state.closing && client.status === 'end') client.connect().catch(() => undefined);
    }, delay).unref();
  });
}

/** QUIT when connected (bounded), else just drop the connection and stop reconnecting. */
async function closeClient(client: Redis | Cluster, ms: number): Promise<void> {
  if (client.status === 'ready') {
    await settlesWithin(client.quit(), ms);
  }
  client.disconnect();
}

/** Logs connection state: the first error of an outage at warn, the retries after it at debug. */
function watch(client: Redis | Cluster, name: string, log: Logger): void {
  let down = false;
  client.on('error', (err: Error) => {
    if (down) return log.debug({ err: err.message, client: name }, 'redis still unreachable');
    down = true;
    log.warn({ err: err.message, client: name }, 'redis connection error');
  });
  client.on('ready', () => {
    if (down) log.info({ client: name }, 'redis reconnected');
    down = false;
  });
}
