import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Backend } from '../backends/index.js';
import { type Config, clustered } from '../config.js';
import type { Hub } from '../hub/hub.js';
import type { Logger } from '../logger.js';
import type { RoomObserver } from '../rooms/manager-types.js';
import { EventLimit } from '../socket/event-limit.js';
import type { NamespaceRuntime } from '../socket/namespaces.js';
import { createApiKeyring } from './api-keys.js';
import { createDisconnector } from './disconnect.js';
import { installErrorHandlers } from './errors.js';
import { createMetrics, registerMetricsRoute } from './metrics.js';
import { registerOpenApi } from './openapi.js';
import { apiRoutes } from './routes.js';
import { createApiSchemas } from './schemas.js';

/** What the HTTP API, SSE and metrics need from the broker that hosts them. */
export interface ApiHost {
  readonly config: Config;
  readonly http: FastifyInstance;
  /** The server of `metrics.port`, when set: `/metrics` goes there instead of `http`. */
  readonly metricsHttp?: FastifyInstance | null;
  readonly backend: Backend;
  /** The node's one local delivery point: its receivers (SSE streams) and its deliveries. */
  readonly hub: Hub;
  /** Whether the backend is reachable (Redis in cluster mode). */
  backendReady(): boolean;
  readonly namespaces: ReadonlyMap<string, NamespaceRuntime>;
  readonly log: Logger;
  /** The room managers' observer; the metrics hook in here. */
  readonly observer: RoomObserver;
  /** True while the broker takes new connections (not before listen, not while shutting down). */
  accepting(): boolean;
  onShutdown(hook: () => void | Promise<void>): void;
}

/** Cluster-wide answers must come within the 3 s docs/api.md promises, with room to reply. */
const MAX_CLUSTER_WAIT_MS = 2500;

/**
 * Registers the server API (docs/api.md), SSE (the README's SSE section), `/metrics` and
 * `/v1/openapi.json` on the broker's fastify instance, plus the one error handler and the one
 * not-found handler of the HTTP side. Call it once, before `listen`.
 *
 * @example
 * registerApi({ config, http, backend, hub, backendReady, namespaces, log, observer, accepting, onShutdown });
 */
export function registerApi(host: ApiHost): void {
  const { config, http, backend, namespaces, log } = host;
  const receivers = host.hub.receivers;
  const keys = createApiKeyring(config);
  const perSecond = config.api.rateLimitPerSecond;
  const limit = new EventLimit(perSecond, `more than ${perSecond} requests per second with this API key`);
  const schemas = createApiSchemas(config.api);
  const metrics = createMetrics({
    redisReady: () => host.backendReady(),
    clustered: clustered(config),
  });
  chainObserver(host.observer, metrics.observer);

  const counted = new Map(
    [...namespaces.values()].map((rt) => [
      rt.name,
      metrics.track(rt.name, rt.nsp, () => receivers.count(rt.name)),
    ]),
  );
  host.hub.onDelivered((ns, _envelope, channel, except, others) =>
    counted.get(ns)?.delivered(channel, except, others),
  );
  const disconnect = createDisconnector({
    namespaces,
    receivers,
    engine: backend.engine,
    clustered: backend.adapter !== undefined,
    timeoutMs: Math.min(config.redis.requestTimeoutMs, MAX_CLUSTER_WAIT_MS),
    log,
  });
  host.onShutdown(() => receivers.closeAll('shutting_down', 'the server is shutting down'));

  installErrorHandlers(http, log);
  http.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    metrics.apiRequest(req.method, req.routeOptions.url ?? 'unmatched', reply.statusCode);
    done();
  });
  registerMetricsRoute(host.metricsHttp ?? http, metrics, config.metrics.token);

  registerOpenApi(http, schemas);
  void http.register(async (scope) => {
    await scope.register(apiRoutes, { keys, schemas, engine: backend.engine, namespaces, disconnect, limit });
  });
}

/** Adds `extra`'s hooks to `observer`, after any it already has. */
function chainObserver(observer: RoomObserver, extra: Required<RoomObserver>): void {
  const { published, joined, slowConsumer } = observer;
  observer.published = published
    ? (...args) => {
        published(...args);
        extra.published(...args);
      }
    : extra.published;
  observer.joined = joined
    ? (...args) => {
        joined(...args);
        extra.joined(...args);
      }
    : extra.joined;
  observer.slowConsumer = slowConsumer
    ? (ns) => {
        slowConsumer(ns);
        extra.slowConsumer(ns);
      }
    : extra.slowConsumer;
}
