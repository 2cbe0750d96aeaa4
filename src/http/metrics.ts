import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { RoomcastError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { RoomObserver } from '../rooms/manager-types.js';
import type { RoomcastNamespace } from '../socket/namespaces.js';
import { bearer } from './api-keys.js';
import { clientErrorReply, installErrorHandlers, requestTimeouts, sendError } from './errors.js';
import { createTransportTracker, type TransportTracker } from './transport-tracker.js';

/**
 * The broker's Prometheus metrics, in a `Registry` of its own (several brokers run in one test
 * process; the global registry is never touched). Counting stays off the per-recipient path:
 * a broadcast is counted once, from the size of its room's member set on this node, split by
 * transport with counters kept up to date at join, leave and upgrade time.
 *
 * @example
 * const metrics = createMetrics({ redisReady: () => cluster.isReady() });
 * Object.assign(observer, metrics.observer);
 * app.get('/metrics', async (_req, reply) => reply.type(metrics.contentType).send(await metrics.text()));
 */
export interface BrokerMetrics {
  readonly contentType: string;
  /** Hooks for the room managers: publishes (by source, with latency) and joins. */
  readonly observer: Required<RoomObserver>;
  /** Starts following one namespace's connections; `sseCount` is its number of SSE streams. */
  track(ns: string, nsp: RoomcastNamespace, sseCount: () => number): NamespaceMetrics;
  apiRequest(method: string, route: string, status: number): void;
  text(): Promise<string>;
}

export interface NamespaceMetrics {
  /**
   * One message reached this node's members: the sockets in its room's message `channel` (less
   * `except`) and `others` SSE streams.
   */
  delivered(channel: string, except: string | undefined, others: number): void;
}

/** One label set of a tally: its count since the last scrape. */
interface Slot {
  n: number;
}

/**
 * A prom-client Counter counted in plain numbers: `slot(key, labels)` gives the count of one label
 * set (made the first time; keep it where the key is fixed), and the counts are added to the
 * counter when it is scraped (its documented `collect`), so an increment hashes no labels.
 */
function tally(registry: Registry, spec: { name: string; help: string; labelNames: string[] }) {
  const slots = new Map<string, Slot & { labels: Record<string, string> }>();
  new Counter({
    ...spec,
    registers: [registry],
    collect() {
      for (const s of slots.values()) {
        if (s.n === 0) continue;
        this.inc(s.labels, s.n);
        s.n = 0;
      }
    },
  });
  return {
    slot(key: string, labels: () => Record<string, string>): Slot {
      let s = slots.get(key);
      if (!s) {
        s = { n: 0, labels: labels() };
        slots.set(key, s);
      }
      return s;
    },
  };
}

/**
 * A prom-client Histogram observed in batches: each label set's values wait in a small buffer and
 * reach the histogram in one loop when the buffer is full or the histogram is scraped (its
 * documented `collect`), so a scrape always sees every value. One `observe` costs about 0.5 µs in
 * a loop and about 7 µs once per publish amid the rest of the event (profiled in the server,
 * docs/benchmarks.md): its label hashing and bucket lookups run with cold caches there.
 */
function batchedHistogram(
  registry: Registry,
  spec: { name: string; help: string; labelNames: string[]; buckets: number[] },
) {
  const batches: Batch[] = [];
  const flush = (b: Batch) => {
    for (let i = 0; i < b.n; i++) histogram.observe(b.labels, b.values[i] as number);
    b.n = 0;
  };
  const histogram = new Histogram({
    ...spec,
    registers: [registry],
    collect() {
      for (const b of batches) flush(b);
    },
  });
  return {
    /** The buffer of one label set; make it once, where the labels are fixed. */
    batch(labels: Record<string, string>): Batch {
      const b: Batch = { labels, values: new Float64Array(HISTOGRAM_BATCH), n: 0 };
      batches.push(b);
      return b;
    },
    observe(b: Batch, value: number): void {
      b.values[b.n++] = value;
      if (b.n === HISTOGRAM_BATCH) flush(b);
    },
  };
}

/** Values of one label set not yet in the histogram. */
interface Batch {
  readonly labels: Record<string, string>;
  readonly values: Float64Array;
  n: number;
}

const HISTOGRAM_BATCH = 256;
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function createMetrics(opts: { redisReady: () => boolean; clustered: boolean }): BrokerMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const trackers = new Map<string, { tracker: TransportTracker; sseCount: () => number }>();

  new Gauge({
    name: 'roomcast_connections',
    help: 'Open client connections on this node, by namespace and transport (websocket, polling, sse).',
    labelNames: ['namespace', 'transport'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [ns, t] of trackers) {
        const polling = t.tracker.pollingCount();
        this.set({ namespace: ns, transport: 'websocket' }, t.tracker.socketCount() - polling);
        this.set({ namespace: ns, transport: 'polling' }, polling);
        this.set({ namespace: ns, transport: 'sse' }, t.sseCount());
      }
    },
  });
  new Gauge({
    name: 'roomcast_rooms',
    help: 'Rooms with at least one member connected to this node, by namespace.',
    labelNames: ['namespace'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [ns, t] of trackers) this.set({ namespace: ns }, t.tracker.roomCount());
    },
  });
  new Gauge({
    name: 'roomcast_redis_connected',
    help: 'Cluster mode: 1 while Redis is reachable and subscribed, else 0. Always 1 on one node without Redis.',
    labelNames: ['mode'],
    registers: [registry],
    collect() {
      this.reset();
      this.set({ mode: opts.clustered ? 'redis' : 'memory' }, opts.redisReady() ? 1 : 0);
    },
  });
  const slow = new Counter({
    name: 'roomcast_slow_consumers_total',
    help: 'Connections closed because their unsent data passed limits.sendQueueBytes, by namespace.',
    labelNames: ['namespace'],
    registers: [registry],
  });
  // The counters bumped on every message, join and request count in plain numbers, added to
  // prom-client when scraped: no labels are hashed on the hot path.
  const joins = tally(registry, {
    name: 'roomcast_joins_total',
    help: 'Room joins (sockets and SSE streams), by namespace.',
    labelNames: ['namespace'],
  });
  const published = tally(registry, {
    name: 'roomcast_messages_published_total',
    help: 'Messages published through this node, by namespace and source (socket, api).',
    labelNames: ['namespace', 'source'],
  });
  /** Per namespace, so a publish builds no key. */
  const publishedIn = new Map<string, Record<'socket' | 'api', Slot>>();
  const delivered = tally(registry, {
    name: 'roomcast_messages_delivered_total',
    help: 'Message deliveries to connections on this node, by namespace and transport.',
    labelNames: ['namespace', 'transport'],
  });
  const latency = batchedHistogram(registry, {
    name: 'roomcast_publish_duration_seconds',
    help: 'Time from accepting a publish to handing it to the transport (offset, history, broadcast).',
    labelNames: ['source'],
    buckets: LATENCY_BUCKETS,
  });
  const latencyOf = { socket: latency.batch({ source: 'socket' }), api: latency.batch({ source: 'api' }) };
  const api = tally(registry, {
    name: 'roomcast_api_requests_total',
    help: 'HTTP requests, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'],
  });

  return {
    contentType: registry.contentType,
    observer: {
      published(source, ns, seconds) {
        let by = publishedIn.get(ns);
        if (!by) {
          const slot = (from: 'socket' | 'api') =>
            published.slot(`${ns}\u0000${from}`, () => ({ namespace: ns, source: from }));
          by = { socket: slot('socket'), api: slot('api') };
          publishedIn.set(ns, by);
        }
        by[source].n++;
        latency.observe(latencyOf[source], seconds);
      },
      joined(_room, ns) {
        joins.slot(ns, () => ({ namespace: ns })).n++;
      },
      slowConsumer(ns) {
        slow.inc({ namespace: ns });
      },
    },
    track(ns, nsp, sseCount) {
      const tracker = createTransportTracker(nsp);
      trackers.set(ns, { tracker, sseCount });
      const [ws, polling, sse] = (['websocket', 'polling', 'sse'] as const).map((transport) =>
        delivered.slot(`${ns}\u0000${transport}`, () => ({ namespace: ns, transport })),
      ) as [Slot, Slot, Slot];
      return {
        delivered(channel, except, others) {
          const poll = tracker.polling(channel, except);
          ws.n += tracker.members(channel, except) - poll;
          polling.n += poll;
          sse.n += others;
        },
      };
    },
    apiRequest(method, route, status) {
      api.slot(`${method} ${status} ${route}`, () => ({ method, route, status: String(status) })).n++;
    },
    text: () => registry.metrics(),
  };
}

/**
 * `GET /metrics` on `app`: the main port, or the metrics port (`metrics.port`). With
 * `metrics.token` set, a scrape needs `Authorization: Bearer <token>` (401 `unauthorized` with the
 * error body otherwise); the token is compared in constant time.
 *
 * @example
 * registerMetricsRoute(metricsHttp ?? http, metrics, config.metrics.token);
 */
export function registerMetricsRoute(
  app: FastifyInstance,
  metrics: BrokerMetrics,
  token: string | null,
): void {
  const expected = token === null ? null : sha256(token);
  const authorize = async (req: FastifyRequest, reply: FastifyReply) => {
    if (expected === null) return;
    const presented = bearer(req.headers.authorization);
    if (presented !== null && timingSafeEqual(sha256(presented), expected)) return;
    reply.header('www-authenticate', 'Bearer realm="metrics"');
    return sendError(
      reply,
      new RoomcastError('unauthorized', 'metrics need Authorization: Bearer <metrics.token>'),
    );
  };
  app.get('/metrics', { onRequest: authorize }, async (_req, reply) =>
    reply.type(metrics.contentType).send(await metrics.text()),
  );
}

/**
 * The small HTTP server of `metrics.port`: `/metrics` only (every other path is 404 with the error
 * body), on `config.host`. The broker starts it after its own port and closes it with itself.
 *
 * @example
 * const metricsHttp = config.metrics.port === null ? null : createMetricsHttp(log, config.limits.requestTimeoutMs);
 * await metricsHttp?.listen({ host: config.host, port: config.metrics.port });
 */
export function createMetricsHttp(log: Logger, requestTimeoutMs: number): FastifyInstance {
  const app = Fastify({
    ...requestTimeouts(requestTimeoutMs),
    loggerInstance: log.child({ component: 'metrics' }),
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    clientErrorHandler: clientErrorReply,
  }) as unknown as FastifyInstance;
  installErrorHandlers(app, log);
  return app;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
