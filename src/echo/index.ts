import type { FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Engine } from '../rooms/engine.js';
import type { NamespaceRuntime } from '../socket/namespaces.js';
import { type EchoApp, registerEchoApi } from './http-api.js';
import type { EchoRedisSubscriber } from './redis-subscriber.js';

export { setupEchoNamespace } from './namespace.js';

export interface EchoServices {
  close(): Promise<void>;
}

/**
 * The node-wide parts of Laravel Echo support, for every namespace configured with `echo`:
 * the Redis subscriber for Laravel's `redis` broadcaster and laravel-echo-server's HTTP API.
 * (The namespaces themselves are set up by `setupEchoNamespace`.)
 *
 * @example
 * const echo = await startEcho({ config, http, engine, namespaces, log, connections });
 * broker.onShutdown(() => echo.close());
 */
export async function startEcho(deps: {
  config: Config;
  http: FastifyInstance;
  engine: Engine;
  namespaces: ReadonlyMap<string, NamespaceRuntime>;
  log: Logger;
  /** Connections open on this node, for laravel-echo-server's `/status`. */
  connections(): number;
}): Promise<EchoServices> {
  const { config, log } = deps;
  const apps: EchoApp[] = [];
  const redisFor: Array<{ rt: NamespaceRuntime; url: string; prefix: string }> = [];
  for (const rt of deps.namespaces.values()) {
    const echo = rt.config.echo;
    if (!echo) continue;
    const roomNameLength = rt.config.limits.roomNameLength;
    for (const app of echo.apps) apps.push({ ...app, ns: rt.name, rooms: rt.rooms, roomNameLength });
    const url = echo.redisUrl ?? config.redis.url;
    if (echo.subscribeRedis && url) {
      redisFor.push({ rt, url, prefix: echo.redisPrefix });
    } else if (echo.subscribeRedis) {
      // Laravel's `redis` broadcaster (its default) would reach nobody, and nothing else would say so.
      log.warn(
        { ns: rt.name },
        'echo.subscribeRedis is on but no Redis URL is known (set echo.redisUrl or ROOMCAST_REDIS_URL): ' +
          "broadcasts Laravel's redis driver publishes will not reach this namespace; " +
          'set echo.subscribeRedis to false if the app uses the HTTP API (echo.apps)',
      );
    }
  }
  // The Redis client is loaded only here: a one-node broker with no Echo subscriber never loads it.
  const subscribers: EchoRedisSubscriber[] = [];
  if (redisFor.length > 0) {
    const { startEchoRedis } = await import('./redis-subscriber.js');
    for (const { rt, url, prefix } of redisFor) {
      subscribers.push(
        startEchoRedis({
          url,
          prefix,
          rooms: rt.rooms,
          roomNameLength: rt.config.limits.roomNameLength,
          windowMs: config.api.idempotencyWindowMs,
          log: log.child({ component: 'echo-redis', ns: rt.name }),
        }),
      );
    }
  }
  if (apps.length > 0)
    void deps.http.register(async (scope) =>
      registerEchoApi(scope, {
        apps,
        limits: { maxChannels: config.api.maxRoomsPerPublish, perSecond: config.api.rateLimitPerSecond },
        engine: deps.engine,
        log,
        connections: deps.connections,
      }),
    );
  return {
    async close() {
      await Promise.allSettled(subscribers.map((s) => s.close()));
    },
  };
}
