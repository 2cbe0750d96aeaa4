import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { Server } from 'socket.io';
import { settlesWithin } from '../backends/deadline.js';
import { type Backend, createBackend } from '../backends/index.js';
import type { Config } from '../config.js';
import { setupEchoNamespace, startEcho } from '../echo/index.js';
import { registerDemo } from '../http/demo.js';
import { registerApi } from '../http/index.js';
import { createMetricsHttp } from '../http/metrics.js';
import { originPolicy, socketIoOrigins } from '../http/origins.js';
import { createApiSchemas } from '../http/schemas.js';
import { createHttp } from '../http/server.js';
import { serveStrayUpgrades } from '../http/upgrades.js';
import { Hub } from '../hub/hub.js';
import { createLogger, type Logger } from '../logger.js';
import type { Engine } from '../rooms/engine.js';
import type { RoomObserver } from '../rooms/manager-types.js';
import { closeAllForShutdown } from '../socket/connection.js';
import { closeOversizedPolling } from '../socket/frames.js';
import { handshakesOf } from '../socket/limits.js';
import { type NamespaceRuntime, type RoomcastServer, setupNamespace } from '../socket/namespaces.js';
import { boundedParser } from '../socket/parser.js';
import { registerSse } from '../sse/index.js';

export interface BrokerOptions {
  /** A pino logger; by default one at `config.logLevel` on stdout. */
  logger?: Logger;
}

/** A running roomcast broker: one HTTP port for Socket.IO, the server API, SSE and the demo. */
export interface Broker {
  readonly config: Config;
  readonly io: RoomcastServer;
  readonly http: FastifyInstance;
  readonly engine: Engine;
  readonly backend: Backend;
  /** The node's one local delivery point. */
  readonly hub: Hub;
  readonly namespaces: ReadonlyMap<string, NamespaceRuntime>;
  readonly log: Logger;
  /**
   * Starts listening on `config.host:config.port` (port 0 picks a free one), and on
   * `config.metrics.port` when set (`metrics` says where; null when /metrics is on the main port).
   */
  listen(): Promise<{
    host: string;
    port: number;
    url: string;
    metrics: { host: string; port: number; url: string } | null;
  }>;
  /** True while listening, not shutting down, and (in cluster mode) Redis is reachable. */
  isReady(): boolean;
  /** Runs `hook` at shutdown, after clients are told and before the engine closes (SSE streams). */
  onShutdown(hook: () => void | Promise<void>): void;
  /**
   * Graceful stop: refuse new connections, send `closing { code: "shutting_down" }` to every client,
   * close them within `config.shutdownGraceMs`, then close the HTTP server and the engine.
   */
  close(): Promise<void>;
}

/** The accept backlog of the port (Node's default is 511): a reconnect storm's connects are not dropped. */
const LISTEN_BACKLOG = 4096;
/** How long an Engine.IO connection may stay a handshake, with no namespace connected. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Builds a broker from a loaded config. Nothing is shared between brokers, so several can run in
 * one process (tests do).
 *
 * @example
 * const broker = await createBroker(loadConfig(process.env));
 * const { url } = await broker.listen();
 * process.on('SIGTERM', () => broker.close().then(() => process.exit(0)));
 */
export async function createBroker(config: Config, opts: BrokerOptions = {}): Promise<Broker> {
  const log = opts.logger ?? createLogger(config.logLevel);
  const hub = new Hub({ log });
  const backend = await createBackend(config, log, hub);
  hub.attach(backend.engine);
  let state: 'idle' | 'listening' | 'closing' | 'closed' = 'idle';
  const shutdownHooks: Array<() => void | Promise<void>> = [];
  const isReady = () => state === 'listening' && backend.isReady();
  const http = createHttp(config, log, isReady);
  const observer: RoomObserver = {};
  const maxPayload = Math.max(...Object.values(config.namespaces).map((ns) => ns.limits.payloadBytes));
  // Room names and payloads are checked by roomcast; this is only the outer bound of one frame
  // (and of one packet's binary attachments together).
  const frameBytes = Math.max(1_048_576, maxPayload * 2 + 65_536);
  const io: RoomcastServer = new Server(http.server, {
    maxHttpBufferSize: frameBytes,
    parser: boundedParser(frameBytes),
    // A handshake that no namespace took within this (Socket.IO's default is 45 s) is closed: a
    // client connects its namespace at once, and a bare handshake needs no token.
    connectTimeout: HANDSHAKE_TIMEOUT_MS,
    // Upgrades to other paths are served as plain HTTP below, not ended unanswered.
    destroyUpgrade: false,
    // The one origin policy of the port (src/http/origins.ts), as Socket.IO's cors and allowRequest.
    ...socketIoOrigins(originPolicy(config.allowedOrigins)),
    // Laravel Echo fronts built for laravel-echo-server bundle socket.io-client 2 (Engine.IO 3).
    allowEIO3: Object.values(config.namespaces).some((ns) => ns.echo),
    ...(backend.adapter ? { adapter: backend.adapter as never } : {}),
  });
  closeOversizedPolling(io, http.server);
  serveStrayUpgrades(http.server, `${io.path()}/`);
  const namespaces = new Map<string, NamespaceRuntime>();
  for (const ns of Object.values(config.namespaces)) {
    // A namespace with `echo` also serves Laravel Echo clients (docs/laravel.md).
    const setup = ns.echo ? setupEchoNamespace : setupNamespace;
    namespaces.set(
      ns.name,
      setup(io, config, ns, backend.engine, hub, log, () => state === 'listening', observer),
    );
  }
  // `metrics.port`: /metrics on a server of its own, started and closed with the broker.
  const metricsHttp =
    config.metrics.port === null ? null : createMetricsHttp(log, config.limits.requestTimeoutMs);
  registerApi({
    config,
    http,
    metricsHttp,
    backend,
    hub,
    backendReady: () => backend.isReady(),
    namespaces,
    log,
    observer,
    accepting: () => state === 'listening',
    onShutdown: (hook) => void shutdownHooks.push(hook),
  });
  const echo = await startEcho({
    config,
    http,
    engine: backend.engine,
    namespaces,
    log,
    connections: () => io.engine.clientsCount,
  });
  shutdownHooks.push(() => echo.close());
  // GET /roomcast.js always; the demo page and its token route in development only.
  registerDemo(http, config);
  // SSE is one more transport over the hub: a fastify plugin of its own.
  void http.register(async (scope) =>
    registerSse(scope, {
      config,
      namespaces,
      receivers: hub.receivers,
      engine: backend.engine,
      nodeConnections: () => io.engine.clientsCount - handshakesOf(io).waiting + hub.receivers.total(),
      schemas: createApiSchemas(config.api),
      accepting: () => state === 'listening',
    }),
  );

  async function close(): Promise<void> {
    if (state === 'closing' || state === 'closed') return;
    state = 'closing';
    const deadline = Date.now() + config.shutdownGraceMs;
    closeAllForShutdown([...namespaces.values()].flatMap((rt) => [...rt.nsp.sockets.values()]));
    await Promise.allSettled(shutdownHooks.map((hook) => hook()));
    await waitFor(() => io.engine.clientsCount === 0, config.shutdownGraceMs);
    // Socket.IO's close ends with the HTTP server's close, which waits for every connection to
    // end: one that sent no request (a preconnect, a TCP health check) or half of one never does.
    // fastify's close drops them (`forceCloseConnections`), so it runs alongside, not after.
    const ioClosed = io.close();
    await http.close().catch((err: unknown) => log.warn({ err }, 'http close'));
    await ioClosed;
    await metricsHttp?.close().catch((err: unknown) => log.warn({ err }, 'metrics http close'));
    // A Redis that does not answer (frozen, cut off) must not hold the exit past the grace period:
    // each of the backend's own waits is as long as one Redis request may take.
    const left = Math.max(BACKEND_CLOSE_MIN_MS, deadline - Date.now());
    if (!(await settlesWithin(backend.close(), left)))
      log.warn({ waitedMs: left }, 'the backend did not close within the grace period; going on');
    state = 'closed';
  }

  return {
    config,
    io,
    http,
    engine: backend.engine,
    backend,
    hub,
    namespaces,
    log,
    isReady,
    onShutdown: (hook) => void shutdownHooks.push(hook),
    close,
    async listen() {
      // After a node restart every client reconnects at once: Node's default accept backlog (511)
      // overflows, and the kernel drops the rest until their SYN is retried seconds later. The
      // kernel caps this at net.core.somaxconn (4096 on current Linux).
      await http.listen({ host: config.host, port: config.port, backlog: LISTEN_BACKLOG });
      // A failure here leaves the main port open: the caller closes the broker (as main does).
      if (metricsHttp && config.metrics.port !== null)
        await metricsHttp.listen({ host: config.host, port: config.metrics.port });
      state = 'listening';
      const main = urlOf(http.server.address() as AddressInfo);
      const metrics = metricsHttp ? urlOf(metricsHttp.server.address() as AddressInfo) : null;
      return { ...main, metrics };
    },
  };
}

function urlOf(addr: AddressInfo): { host: string; port: number; url: string } {
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const shown = addr.address === '0.0.0.0' || addr.address === '::' ? 'localhost' : host;
  return { host: addr.address, port: addr.port, url: `http://${shown}:${addr.port}` };
}

/**
 * Time the backend gets to close when the connections took all of the grace period: enough for a
 * Redis that answers to take the node's last presence removals and mark it gone.
 */
const BACKEND_CLOSE_MIN_MS = 1000;

function waitFor(done: () => boolean, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const deadline = Date.now() + ms;
    const tick = () => (done() || Date.now() >= deadline ? resolve() : setTimeout(tick, 20).unref());
    tick();
  });
}
