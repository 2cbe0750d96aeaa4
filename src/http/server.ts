import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { clientErrorReply, requestTimeouts } from './errors.js';
import { frameworkErrorsUnder, originPolicy, registerOriginPolicy } from './origins.js';

/**
 * The HTTP side of the single port: health and readiness here; the server API, SSE, metrics and
 * the demo page register their routes on the same instance. Socket.IO attaches to its server.
 */
export function createHttp(config: Config, log: Logger, isReady: () => boolean): FastifyInstance {
  const policy = originPolicy(config.allowedOrigins);
  const app = Fastify({
    loggerInstance: log.child({ component: 'http' }),
    logController: new LogController({ disableRequestLogging: true }),
    // Requests share this logger instead of a child each: pino serializes a child's bindings when
    // it is made, about 7 µs per request in the HTTP benchmark (docs/benchmarks.md). Request
    // logging is off and errors go to the broker's log; the few warnings logged through `req.log`
    // (SSE admission) carry no `reqId`, and no route sets its own log level.
    childLoggerFactory: (logger) => logger,
    bodyLimit: config.api.bodyLimitBytes,
    ...requestTimeouts(config.limits.requestTimeoutMs),
    forceCloseConnections: true,
    return503OnClosing: true,
    // A room in a path is up to 200 characters, more when percent-encoded (the default is 100).
    routerOptions: { maxParamLength: 2048 },
    // Errors the router raises before any route or hook (bad percent-encoding, an overlong
    // parameter) leave in roomcast's error shape too, under the same origin policy.
    frameworkErrors: frameworkErrorsUnder(policy),
    // Requests Node's parser cannot read get the error body too.
    clientErrorHandler: clientErrorReply,
  });
  // Before every route, so that every reply (errors and 404s too) follows the one origin policy.
  registerOriginPolicy(app as unknown as FastifyInstance, policy);
  app.get('/healthz', async () => ({ ok: true }));
  app.get('/readyz', async (_req, reply) => {
    const ready = isReady();
    return reply.code(ready ? 200 : 503).send({ ok: ready });
  });
  return app as unknown as FastifyInstance;
}
