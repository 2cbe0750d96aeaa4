import type { ErrorCode } from '../protocol.js';

/**
 * Codes a client error carries: the contract's codes (from acknowledgements and `connect_error`)
 * plus the few outcomes only the client can see.
 *
 * - `timeout`: no acknowledgement within `ackTimeoutMs` (the request may still have been applied).
 * - `disconnected`: the connection dropped before the acknowledgement (it may have been applied).
 * - `closed`: the client was disconnected by the app, or the room was left.
 * - `get_token_failed`: the app's `getToken()` threw or returned no string.
 * - `handler_error`: an app handler threw; the error is in `cause`.
 */
export type ClientErrorCode =
  | ErrorCode
  | 'timeout'
  | 'disconnected'
  | 'closed'
  | 'get_token_failed'
  | 'handler_error';

const TEMPORARY: ReadonlySet<ClientErrorCode> = new Set([
  'unavailable',
  'rate_limited',
  'timeout',
  'disconnected',
  'get_token_failed',
]);

/**
 * The one error type of the SDK. It is returned as a value (`{ ok: false, error }`) or passed to
 * `error` handlers; the SDK never throws it at the app and never throws strings.
 *
 * @example
 * const res = await room.publish('msg', { text: 'hi' });
 * if (!res.ok && res.error.code === 'forbidden') showNoRightsBanner();
 * if (!res.ok && res.error.temporary) retryLater();
 */
export class ClientError extends Error {
  readonly code: ClientErrorCode;
  /** True when trying again later may succeed (rate limited, timeout, broker away). */
  readonly temporary: boolean;
  /** The room this error is about, when it is about one. */
  readonly room?: string;

  constructor(code: ClientErrorCode, message: string, opts: { room?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'ClientError';
    this.code = code;
    this.temporary = TEMPORARY.has(code);
    if (opts.room !== undefined) this.room = opts.room;
  }
}

/** What every SDK request resolves to: the reply's fields with `ok: true`, or the error as a value. */
export type Result<T extends object = object> = ({ ok: true } & T) | { ok: false; error: ClientError };

/** A failed `Result`. */
export function failure(
  code: ClientErrorCode,
  message: string,
  opts: { room?: string; cause?: unknown } = {},
): { ok: false; error: ClientError } {
  return { ok: false, error: new ClientError(code, message, opts) };
}

/** Reads the `{ code, message }` a refused connection carries (`connect_error`'s `data`). */
export function connectErrorCode(err: unknown): ClientErrorCode | undefined {
  const data = (err as { data?: unknown } | null)?.data;
  if (typeof data !== 'object' || data === null) return undefined;
  const code = (data as { code?: unknown }).code;
  return typeof code === 'string' ? (code as ClientErrorCode) : undefined;
}

/** True for the codes of a refused token, which no retry with the same token can cure. */
export function isTokenCode(code: ClientErrorCode | undefined): boolean {
  return (
    code === 'token_missing' ||
    code === 'token_invalid' ||
    code === 'token_expired' ||
    code === 'token_revoked'
  );
}
