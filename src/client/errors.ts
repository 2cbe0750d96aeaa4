import { ERROR_CATALOGUE, type ErrorCode, isConnectErrorCode, isErrorCode } from '../error-codes.js';

/**
 * Outcomes only the client can see, beside the broker's codes (the catalogue in `error-codes.ts`),
 * with whether trying again later may work.
 */
const SDK_CODES = {
  /** No acknowledgement within `ackTimeoutMs` (the request may still have been applied). */
  timeout: { temporary: true },
  /** The connection dropped before the acknowledgement (it may have been applied). */
  disconnected: { temporary: true },
  /** The client was disconnected by the app, or the room was left. */
  closed: { temporary: false },
  /** The app's `getToken()` threw or returned no string. */
  get_token_failed: { temporary: true },
  /** An app handler threw; the error is in `cause`. */
  handler_error: { temporary: false },
} as const;

/**
 * Codes a client error carries: the broker's codes (from acknowledgements and `connect_error`)
 * plus the few outcomes only the client can see (`timeout`, `disconnected`, `closed`,
 * `get_token_failed`, `handler_error`).
 */
export type ClientErrorCode = ErrorCode | keyof typeof SDK_CODES;

/** True when trying again later may work: the catalogue's flag, or the SDK's for its own codes. */
function isTemporary(code: ClientErrorCode): boolean {
  if (isErrorCode(code)) return ERROR_CATALOGUE[code].temporary;
  // A code this SDK does not know (a newer broker's) is not temporary.
  return (SDK_CODES as Record<string, { temporary: boolean } | undefined>)[code]?.temporary === true;
}

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
    this.temporary = isTemporary(code);
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

/**
 * Reads the code a refused connection carries (`connect_error`'s `data`): one of the catalogue's
 * connect-error codes, or undefined (a transport failure, or a server that is not roomcast).
 */
export function connectErrorCode(err: unknown): ClientErrorCode | undefined {
  const data = (err as { data?: unknown } | null)?.data;
  if (typeof data !== 'object' || data === null) return undefined;
  const code = (data as { code?: unknown }).code;
  return isConnectErrorCode(code) ? code : undefined;
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
