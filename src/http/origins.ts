import cors from '@fastify/cors';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ServerOptions } from 'socket.io';
import { RoomcastError } from '../errors.js';
import { fromHttpError, sendError } from './errors.js';

/**
 * The one origin policy of the port, read from `allowedOrigins` and applied by the libraries made
 * for it: Socket.IO's `cors` and `allowRequest` for handshakes, @fastify/cors for every HTTP reply.
 * A request without `Origin` (a server, an app, curl) is not a browser's and is always let through:
 * its key or token is what authenticates it.
 *
 * - `["*"]`: every origin, and no credentials (`access-control-allow-origin: *` is never sent
 *   together with `access-control-allow-credentials: true`).
 * - a list: exactly those origins, echoed back with credentials (cookies, e.g. a sticky-session
 *   cookie of the balancer, may be sent).
 *
 * @example
 * const policy = originPolicy(config.allowedOrigins);
 * new Server(http.server, socketIoOrigins(policy));
 * registerOriginPolicy(app, policy);
 */
export interface OriginPolicy {
  /** `["*"]`: any origin, without credentials. */
  readonly any: boolean;
  /** Whether replies may allow credentials: only with an explicit list. */
  readonly credentials: boolean;
  /** The listed origins (empty with `any`). */
  readonly origins: readonly string[];
  /** True for a request with this `Origin` header value (undefined: no header). */
  allows(origin: string | undefined): boolean;
}

export function originPolicy(allowedOrigins: readonly string[]): OriginPolicy {
  const any = allowedOrigins.includes('*');
  const listed = new Set(allowedOrigins);
  return {
    any,
    credentials: !any,
    origins: any ? [] : [...listed],
    allows: (origin) => origin === undefined || any || listed.has(origin),
  };
}

/**
 * Socket.IO's options for the policy: the handshake's `Origin` check (both transports), and the
 * CORS headers of its HTTP replies (long-polling, preflights, the client files it serves), by the
 * `cors` package Socket.IO and Engine.IO run for its `cors` option. The package's options are
 * given per request, so that a WebSocket upgrade skips its work: a 101 reply carries no CORS
 * header a browser reads, and the package had been 0.9% of the server's busy time in a reconnect
 * storm (docs/benchmarks.md, stop 23).
 */
export function socketIoOrigins(policy: OriginPolicy): Pick<ServerOptions, 'cors' | 'allowRequest'> {
  const headers = { origin: policy.any ? '*' : [...policy.origins], credentials: policy.credentials };
  // A request without `Origin` is not a browser's: no allow-origin or credentials header (an empty
  // list allows no origin), and `Vary: Origin`, as fastify's replies; a cache must not hand a
  // client file without CORS to a browser.
  const varyOnly = { origin: [] };
  const none = { origin: false };
  return {
    cors: (req, callback) =>
      callback(null, isUpgrade(req.headers) ? none : req.headers.origin === undefined ? varyOnly : headers),
    allowRequest: (req, done) => done(null, policy.allows(req.headers.origin)),
  };
}

const UPGRADE_TOKEN = /(^|,)\s*upgrade\s*(,|$)/i;

/**
 * Whether Node hands this request to the server's `upgrade` event (Engine.IO's WebSocket path):
 * an `Upgrade` header and an `upgrade` token in `Connection`. A stray `Upgrade` alone (`h2c`) is
 * an ordinary request, and its reply keeps its CORS headers.
 */
function isUpgrade(headers: { upgrade?: string | undefined; connection?: string | undefined }): boolean {
  return headers.upgrade !== undefined && UPGRADE_TOKEN.test(headers.connection ?? '');
}

/**
 * The CORS headers @fastify/cors writes on a reply to an allowed origin (not a preflight), for the
 * replies fastify sends before any hook runs (`frameworkErrors`: a URL the router cannot read).
 */
function corsHeaders(policy: OriginPolicy, origin: string): Record<string, string> {
  return {
    'access-control-allow-origin': policy.any ? '*' : origin,
    ...(policy.credentials ? { 'access-control-allow-credentials': 'true' } : {}),
    'access-control-expose-headers': EXPOSED_HEADERS,
    vary: 'Origin',
  };
}

/** Browsers let a page read only these response headers of a cross-origin reply. */
const EXPOSED_HEADERS = 'retry-after';
/** The methods a preflight allows (@fastify/cors's default, named so both paths say the same). */
const PREFLIGHT_METHODS = 'GET,HEAD,POST';

/**
 * A preflight's headers as @fastify/cors writes them (its `methods`, the requested headers
 * echoed), for a preflight fastify answers before any hook: its URL cannot be read.
 */
function preflightHeaders(
  policy: OriginPolicy,
  origin: string,
  requestHeaders: string | undefined,
): Record<string, string> {
  return {
    ...corsHeaders(policy, origin),
    'access-control-allow-methods': PREFLIGHT_METHODS,
    ...(requestHeaders === undefined ? {} : { 'access-control-allow-headers': requestHeaders }),
    vary: 'Origin, Access-Control-Request-Headers',
    'content-length': '0',
  };
}

/** The refusal of a request from an origin the policy does not allow. */
function refused(origin: string | undefined): RoomcastError {
  return new RoomcastError('forbidden', `origin ${origin} is not in allowedOrigins`);
}

/**
 * fastify's `frameworkErrors` under the policy: the errors the router raises before any route or
 * hook (bad percent-encoding, an overlong parameter) leave in roomcast's error shape with the CORS
 * headers @fastify/cors would have written, 403 for a refused origin, and a preflight to such a
 * URL is answered as any preflight (the request that follows gets the 400).
 */
export function frameworkErrorsUnder(policy: OriginPolicy) {
  return (err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const origin = req.headers.origin;
    if (!policy.allows(origin)) return sendError(reply, refused(origin));
    if (origin !== undefined && req.method === 'OPTIONS' && req.headers['access-control-request-method']) {
      const requested = req.headers['access-control-request-headers'];
      return reply
        .code(204)
        .headers(preflightHeaders(policy, origin, requested))
        .send();
    }
    reply.headers(origin === undefined ? { vary: 'Origin' } : corsHeaders(policy, origin));
    return sendError(reply, fromHttpError(err));
  };
}

/**
 * Applies the policy to every route of `app`: a request from an origin that is not allowed gets
 * 403 `forbidden` with the error body; every reply to an allowed origin (errors included, and
 * preflights) carries the CORS headers, written by @fastify/cors; a request with no `Origin` gets
 * none. Register it before any route.
 */
export function registerOriginPolicy(app: FastifyInstance, policy: OriginPolicy): void {
  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    const origin = req.headers.origin;
    if (policy.allows(origin)) return done();
    sendError(reply, refused(origin));
  });
  void app.register(cors, {
    // Called with the request's `Origin` (the hook above has refused origins not allowed). A
    // request without one is not a cross-origin browser request: `false` writes no CORS headers
    // (fewer headers on every server-API call), only `Vary: Origin`, so a cache never hands its
    // reply to a browser that sent one. `*` for the wildcard; `true` echoes a listed origin.
    origin: (origin: string | undefined, callback: (err: Error | null, origin: string | boolean) => void) =>
      callback(null, origin === undefined || !policy.allows(origin) ? false : policy.any ? '*' : true),
    credentials: policy.credentials,
    exposedHeaders: EXPOSED_HEADERS,
    methods: PREFLIGHT_METHODS,
    // An OPTIONS from an allowed origin without `Access-Control-Request-Method` is answered as a
    // preflight; the strict default replied a text/plain 400, not the error body.
    strictPreflight: false,
  });
}
