import { type ConnectErrorCode, ERROR_CATALOGUE, isConnectErrorCode } from './error-codes.js';
import type { ErrorBody, ErrorCode, Failure } from './protocol.js';

/**
 * The one error type of roomcast. Expected failures (bad input, missing rights, Redis away)
 * are thrown or returned as a `RoomcastError` with a stable `code` from the catalogue
 * (`error-codes.ts`); everything else is a bug and is reported as `internal` without its details.
 *
 * @example
 * throw new RoomcastError('forbidden', 'no publish right for room "chat:1"');
 */
export class RoomcastError extends Error {
  readonly code: ErrorCode;
  /** True when retrying later may succeed (Redis away, rate limited): the catalogue's flag. */
  readonly temporary: boolean;
  /** Seconds the caller should wait before retrying, where known (rate limits). */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, message: string, opts: { retryAfter?: number } = {}) {
    super(message);
    this.name = 'RoomcastError';
    this.code = code;
    this.temporary = ERROR_CATALOGUE[code].temporary;
    if (opts.retryAfter !== undefined) this.retryAfter = opts.retryAfter;
  }

  toBody(): ErrorBody {
    return { code: this.code, message: this.message };
  }
}

/** Any thrown value as a `RoomcastError`; unknown errors become `internal` (details stay in the log). */
export function asRoomcastError(err: unknown): RoomcastError {
  if (err instanceof RoomcastError) return err;
  return new RoomcastError('internal', 'internal error');
}

/** The one mapping from an error to an acknowledgement. */
export function toFailure(err: unknown): Failure {
  return { ok: false, error: asRoomcastError(err).toBody() };
}

/** The one mapping from an error code to an HTTP status (the catalogue's). */
export function httpStatus(code: ErrorCode): number {
  return ERROR_CATALOGUE[code].status;
}

/** A refused connection as the client sees it: `connect_error` with `message` the code, `data` `{ code, message }`. */
export type ConnectError = Error & { data: { code: ConnectErrorCode; message: string } };

/**
 * The one mapping from a reason to refuse a connection to the `connect_error` the client gets.
 * Only codes the catalogue allows as `connect_error` pass; anything else is `internal`.
 *
 * @example
 * nsp.use((socket, next) => (isAccepting() ? next() : next(connectError('unavailable', 'shutting down'))));
 */
export function connectError(code: ConnectErrorCode, message: string): ConnectError {
  return Object.assign(new Error(code), { data: { code, message } });
}

/** Any thrown value as a `connect_error` (see `connectError`). */
export function connectErrorOf(err: unknown): ConnectError {
  const e = asRoomcastError(err);
  return isConnectErrorCode(e.code)
    ? connectError(e.code, e.message)
    : connectError('internal', 'internal error');
}
