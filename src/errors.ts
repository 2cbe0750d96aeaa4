import type { ErrorBody, ErrorCode, Failure } from './protocol.js';

/**
 * The one error type of roomcast. Expected failures (bad input, missing rights, Redis away)
 * are thrown or returned as a `RoomcastError` with a stable `code` from the contract; everything
 * else is a bug and is reported as `internal` without its details.
 *
 * @example
 * throw new RoomcastError('forbidden', 'no publish right for room "chat:1"');
 */
export class RoomcastError extends Error {
  readonly code: ErrorCode;
  /** True when retrying later may succeed (Redis away, rate limited). */
  readonly temporary: boolean;
  /** Seconds the caller should wait before retrying, where known (rate limits). */
  readonly retryAfter?: number;

  constructor(code: ErrorCode, message: string, opts: { temporary?: boolean; retryAfter?: number } = {}) {
    super(message);
    this.name = 'RoomcastError';
    this.code = code;
    this.temporary = opts.temporary ?? (code === 'unavailable' || code === 'rate_limited');
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

const HTTP_STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  invalid_room: 400,
  forbidden: 403,
  not_joined: 400,
  too_many_rooms: 400,
  payload_too_large: 413,
  rate_limited: 429,
  unavailable: 503,
  internal: 500,
  not_found: 404,
  unauthorized: 401,
  token_missing: 401,
  token_invalid: 401,
  token_expired: 401,
  token_revoked: 401,
  too_many_connections: 429,
};

/** The one mapping from an error code to an HTTP status. */
export function httpStatus(code: ErrorCode): number {
  return HTTP_STATUS[code];
}
