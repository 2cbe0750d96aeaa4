import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';

/**
 * The Redis connections of a cluster node, created once per broker, each with an `error`
 * listener, all closed by `close()`.
 *
 * - `command`: the engine's scripts and reads (every publish is one script here).
 * - `pub`: presence events, and the Socket.IO adapter's messages between nodes.
 * - `rooms`: this node's room subscriptions (redis-subscriptions.ts decides them; ioredis's own
 *   resubscription is off).
 * - `adapter`: the Socket.IO adapter's own subscriptions (its namespace and response channels;
 *   ioredis resubscribes them after a reconnect, and queues them while Redis is away).
 *
 * Every connection but `adapter` fails fast: no offline queue, no retries, a command timeout and
 * no resend after a reconnect. While Redis is away a call fails at once (`unavailable`), and a
 * publish the caller was told failed is never replayed later.
 */
export interface RedisClients {
  readonly command: Redis;
  readonly pub: Redis;
  readonly rooms: Redis;
  readonly adapter: Redis;
  close(): Promise<void>;
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
 * Creates the four connections for `url`.
 *
 * @example
 * const clients = createRedisClients('redis://127.0.0.1:6379/0', { requestTimeoutMs: 2500, log });
 * await clients.close();
 */
export function createRedisClients(
  url: string,
  opts: { requestTimeoutMs: number; log: Logger },
): RedisClients {
  const fast = failFastOptions(opts.requestTimeoutMs);
  const command = new Redis(url, { ...fast, connectionName: 'roomcast-command' });
  const pub = new Redis(url, { ...fast, connectionName: 'roomcast-pub' });
  const rooms = new Redis(url, {
    ...fast,
    commandTimeout: undefined,
    autoResubscribe: false,
    connectionName: 'roomcast-rooms',
  });
  const adapter = new Redis(url, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    autoResubscribe: true,
    connectTimeout: fast.connectTimeout,
    retryStrategy,
    connectionName: 'roomcast-adapter',
  });
  const all = { command, pub, rooms, adapter };
  for (const [name, client] of Object.entries(all)) watch(client, name, opts.log);
  return {
    ...all,
    async close() {
      await Promise.all(Object.values(all).map((c) => closeClient(c, opts.requestTimeoutMs)));
    },
  };
}

/** QUIT when connected (bounded), else just drop the connection and stop reconnecting. */
async function closeClient(client: Redis, ms: number): Promise<void> {
  if (client.status === 'ready') {
    let timer: NodeJS.Timeout | undefined;
    const quit = client.quit().catch(() => undefined);
    await Promise.race([quit, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }
  client.disconnect();
}

/** Logs connection state: the first error of an outage at warn, the retries after it at debug. */
function watch(client: Redis, name: string, log: Logger): void {
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
