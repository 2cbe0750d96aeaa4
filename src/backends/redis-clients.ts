import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';
import { PublishRetry } from './publish-retry.js';

/**
 * The three Redis connections of a cluster node, created once per broker, each with an `error`
 * listener, all closed by `close()`.
 *
 * - `command`: the engine's scripts and reads. No offline queue, no retries, a command timeout and
 *   no resend after reconnect: while Redis is away a call fails at once (`unavailable`), and a
 *   publish the caller was told failed is never replayed later.
 * - `pub`: the adapter's (S)PUBLISH; the same fail-fast options.
 * - `sub`: the adapter's subscriptions. Its queue is kept (it holds only (un)subscribe commands,
 *   one per room created or deleted) and ioredis resubscribes after a reconnect.
 *
 * The methods the adapter and ioredis call without handling the returned promise are wrapped so a
 * rejection is logged instead of ending the process (the stock adapter's crash after ~10 s away).
 */
export interface RedisClients {
  readonly command: Redis;
  readonly pub: Redis;
  readonly sub: Redis;
  /** Resolves when the subscription commands sent so far have been answered (or after `ms`). */
  subscriptionsSettled(ms: number): Promise<void>;
  close(): Promise<void>;
}

export interface RedisClientOptions {
  requestTimeoutMs: number;
  log: Logger;
  /** Channels whose failed (S)PUBLISH is sent again later (room messages; see publish-retry.ts). */
  retryable?: (channel: string) => boolean;
}

const PUB_METHODS = ['publish', 'spublish', 'select'];
const SUB_METHODS = [
  'subscribe',
  'psubscribe',
  'ssubscribe',
  'unsubscribe',
  'punsubscribe',
  'sunsubscribe',
  'select',
];

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
 * Creates the command, pub and sub connections for `url`.
 *
 * @example
 * const clients = createRedisClients('redis://127.0.0.1:6379/0', { requestTimeoutMs: 2500, log });
 * await clients.close();
 */
export function createRedisClients(url: string, opts: RedisClientOptions): RedisClients {
  const fast = failFastOptions(opts.requestTimeoutMs);
  const command = new Redis(url, { ...fast, connectionName: 'roomcast-command' });
  const pub = new Redis(url, { ...fast, connectionName: 'roomcast-pub' });
  const sub = new Redis(url, {
    enableOfflineQueue: true,
    maxRetriesPerRequest: null,
    autoResubscribe: true,
    connectTimeout: fast.connectTimeout,
    retryStrategy,
    connectionName: 'roomcast-sub',
  });
  const pending = new Set<Promise<unknown>>();
  for (const [name, client] of Object.entries({ command, pub, sub })) watch(client, name, opts.log);
  const retry = new PublishRetry(pub, opts.retryable ?? (() => false), opts.log);
  guard(pub, PUB_METHODS, opts.log, undefined, (method, args) => {
    if (method === 'spublish' || method === 'publish') retry.failed(method, args[0], args[1]);
  });
  guard(sub, SUB_METHODS, opts.log, pending);
  coalesceWhileDown(sub);
  return {
    command,
    pub,
    sub,
    async subscriptionsSettled(ms) {
      if (pending.size === 0) return;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...pending]),
        new Promise((resolve) => {
          timer = setTimeout(resolve, ms);
        }),
      ]);
      clearTimeout(timer);
    },
    async close() {
      retry.close();
      await Promise.all([command, pub, sub].map((c) => closeClient(c, opts.requestTimeoutMs)));
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

type Method = (...args: unknown[]) => unknown;

/**
 * While the subscriber is down, SSUBSCRIBE and SUNSUBSCRIBE calls (one per room created or
 * deleted here, however often clients retry joins) are not queued: the last wish per channel is
 * kept and sent once it is back, after ioredis has resubscribed what it had. The queue stays as
 * small as the number of rooms.
 */
function coalesceWhileDown(sub: Redis): void {
  const target = sub as unknown as Record<string, Method>;
  const send = { ssubscribe: target.ssubscribe!, sunsubscribe: target.sunsubscribe! };
  const wished = new Map<string, keyof typeof send>();
  for (const name of Object.keys(send) as Array<keyof typeof send>) {
    target[name] = (...channels: unknown[]) => {
      if (sub.status === 'ready') return send[name](...channels);
      for (const channel of channels) if (typeof channel === 'string') wished.set(channel, name);
      return Promise.resolve(0);
    };
  }
  sub.on('ready', () => {
    const todo = [...wished];
    wished.clear();
    for (const [channel, name] of todo) send[name](channel);
  });
}

/**
 * Wraps `methods` on one client so the promise each returns has a rejection handler (the caller
 * may still await it and see the error). With `pending`, in-flight calls are tracked; `onReject`
 * sees each failed call.
 */
function guard(
  client: Redis,
  methods: string[],
  log: Logger,
  pending?: Set<Promise<unknown>>,
  onReject?: (method: string, args: unknown[]) => void,
): void {
  const target = client as unknown as Record<string, Method>;
  for (const name of methods) {
    const original = target[name]!.bind(client);
    target[name] = (...args: unknown[]) => {
      const result = original(...args);
      if (result instanceof Promise) {
        pending?.add(result);
        result.then(
          () => pending?.delete(result),
          (err: Error) => {
            pending?.delete(result);
            log.debug({ err: err.message, command: name }, 'redis pub/sub command failed');
            onReject?.(name, args);
          },
        );
      }
      return result;
    };
  }
}
