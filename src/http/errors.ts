import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { asRoomcastError, httpStatus, type InputPlace, invalidInput, RoomcastError } from '../errors.js';
import type { Logger } from '../logger.js';

/**
 * The one error handler and the one not-found handler of the HTTP side. Every failure leaves as
 * `{ ok: false, error: { code, message } }` with the status `httpStatus()` gives for the code.
 * Errors fastify raises itself (body parsing, body limit, the rate limiter) are translated here
 * into roomcast's error codes, and a route's schema validation (a `ZodError`) into `bad_request` naming
 * the fields, in the same words as for sockets; anything unexpected is `internal` and logged,
 * never shown.
 */
export function installErrorHandlers(app: FastifyInstance, log: Logger): void {
  app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
    const error = fromHttpError(err);
    if (error.code === 'internal') log.error({ err, url: req.url }, 'HTTP handler failed');
    return sendError(reply, error);
  });
  app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) =>
    sendError(reply, new RoomcastError('not_found', `no route ${req.method} ${req.url.split('?')[0]}`)),
  );
}

/**
 * Fastify's `clientErrorHandler`: a request that Node's HTTP parser cannot read (a garbled request
 * line, a bad `Content-Length`, headers past Node's size limit, a request not received in time)
 * never reaches a route or hook. It gets the error body too, with the status fastify's default
 * handler uses (400, 431, 408), and the connection is closed, as Node and fastify do.
 */
export function clientErrorReply(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'the request was not received in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'the request headers are larger than the limit']
        : [400, 'the request is not valid HTTP'];
  const body = JSON.stringify({ ok: false, error: new RoomcastError('bad_request', message).toBody() });
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/**
 * The fastify options that bound how long a client may take to send one request (headers and
 * body), `limits.requestTimeoutMs`: fastify's default is no bound, so a client that sent its
 * headers and part of a body held the connection for ever. Node checks the requests in progress
 * every `connectionsCheckingInterval` (30 s by default), so the check runs four times per timeout,
 * and a late request is answered 408 within 1.25 timeouts. A request once read is not timed: SSE
 * streams, long-polling GETs and WebSocket upgrades stay open as long as they need.
 *
 * @example
 * Fastify({ ...requestTimeouts(config.limits.requestTimeoutMs), clientErrorHandler: clientErrorReply });
 */
export function requestTimeouts(ms: number) {
  const checkEvery = Math.max(25, Math.min(30_000, Math.floor(ms / 4)));
  return { requestTimeout: ms, http: { requestTimeout: ms, connectionsCheckingInterval: checkEvery } };
}

/** Sends an error body (docs/api.md) with its status (and `Retry-After` when the error knows one). */
export function sendError(reply: FastifyReply, error: RoomcastError): FastifyReply {
  if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter));
  return reply.code(httpStatus(error.code)).send({ ok: false, error: error.toBody() });
}

interface FastifyLikeError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  /** Where fastify's validation failed: `body`, `querystring`, `params`, `headers`. */
  validationContext?: unknown;
}

/** How a validation failure names what it is about: `room`, `messages.3.event`, or the whole `body`. */
const PLACES: Record<string, InputPlace> = {
  body: { root: 'body', prefixed: false },
  querystring: { root: 'query', prefixed: false },
  params: { root: 'path', prefixed: false },
  headers: { root: 'headers', prefixed: false },
};

const FASTIFY_MESSAGES: Record<string, [RoomcastError['code'], string]> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ['payload_too_large', 'the request body is larger than the limit'],
  FST_ERR_CTP_INVALID_JSON_BODY: [
    'bad_request',
    'the body is not valid JSON, or holds a "__proto__" key or a "constructor" with "prototype" (refused)',
  ],
  FST_ERR_CTP_EMPTY_JSON_BODY: ['bad_request', 'the body is empty; a JSON object is expected'],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ['bad_request', 'Content-Type must be application/json'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ['bad_request', 'Content-Length does not match the body'],
  FST_ERR_BAD_URL: ['bad_request', 'the URL is not valid (bad percent-encoding)'],
  FST_ERR_MAX_PARAM_LENGTH: ['bad_request', 'a path parameter is too long'],
};

/** Maps anything thrown while serving a request to a `RoomcastError`. */
export function fromHttpError(err: unknown): RoomcastError {
  if (err instanceof RoomcastError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as FastifyLikeError;
  if (err instanceof z.core.$ZodError) {
    const place = typeof e.validationContext === 'string' ? PLACES[e.validationContext] : undefined;
    return invalidInput(err.issues, place ?? { root: 'request', prefixed: false });
  }
  const known = typeof e.code === 'string' ? FASTIFY_MESSAGES[e.code] : undefined;
  if (known) return new RoomcastError(known[0], known[1]);
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status === 413)
    return new RoomcastError('payload_too_large', 'the request body is larger than the limit');
  if (status === 429)
    return new RoomcastError('rate_limited', 'too many requests; slow down', { retryAfter: 1 });
  if (status >= 400 && status < 500) {
    // Parser errors such as a `__proto__` key: the message is fastify's own, safe to show.
    const message = typeof e.message === 'string' && e.message ? e.message : 'bad request';
    return new RoomcastError('bad_request', message);
  }
  return asRoomcastError(err);
}
