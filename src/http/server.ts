import Fastify, { type FastifyInstance, type FastifyReply, LogController } from 'fastify';
import type { Config } from '../config.js';
import { RoomcastError } from '../errors.js';
import type { Logger } from '../logger.js';
import { fromHttpError, sendError } from './errors.js';
import { corsHeaders, originPolicy, preflightHeaders, registerOriginPolicy } from './origins.js';

/**
 * The HTTP side of the single port: health and readiness here; the server API, SSE, metrics and
 * the demo page register their routes on the same instance. Socket.IO attaches to its server.
 */
export function createHttp(config: Config, log: Logger, isReady: () => boolean): FastifyInstance {
  const policy = originPolicy(config.allowedOrigins);
  const app = Fastify({
    loggerInstance: log.child({ component: 'http' }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: config.api.bodyLimitBytes,
    forceCloseConnections: true,
    return503OnClosing: true,
    // A room in a path is up to 200 characters, more when percent-encoded (the default is 100).
    routerOptions: { maxParamLength: 2048 },
    // Errors the router raises before any route or hook (bad percent-encoding, an overlong
    // parameter) leave in roomcast's error shape too, under the same origin policy.
    frameworkErrors: (err, req, reply) => {
      const origin = req.headers.origin;
      if (!policy.allows(origin))
        return sendError(reply, new RoomcastError('forbidden', `origin ${origin} is not in allowedOrigins`));
      const preflight = req.method === 'OPTIONS' && req.headers['access-control-request-method'];
      if (origin !== undefined && preflight) {
        // As @fastify/cors answers a preflight: the request that follows gets the 400 below.
        const requested = req.headers['access-control-request-headers'];
        const plain = reply as FastifyReply;
        return plain
          .code(204)
          .headers(preflightHeaders(policy, origin, requested))
          .send();
      }
      reply.headers(origin === undefined ? { vary: 'Origin' } : corsHeaders(policy, origin));
      return sendError(reply, fromHttpError(err));
    },
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
