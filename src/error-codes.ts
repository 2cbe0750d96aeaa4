/**
 * The error catalogue of roomcast: every error code a client or a server API caller can see, with
 * its HTTP status, whether trying again later may work, whether a refused connection may carry it
 * as `connect_error`, and what it means. Everything else reads this table: `RoomcastError`
 * (`errors.ts`), the SDK's `ClientError`, the Node publisher, the OpenAPI document and the
 * connect-error path. docs/api.md lists the same codes (a test keeps them equal).
 *
 * This module has no imports, so the browser SDK can carry it.
 */

/** What one error code means and how it travels. */
export interface ErrorCodeInfo {
  /** The HTTP status of the code on the server API and SSE. */
  readonly status: number;
  /** True when the same request may succeed later (the broker or a limit, not the request, is the cause). */
  readonly temporary: boolean;
  /** True when a refused Socket.IO connection may carry it as `connect_error`. */
  readonly connectError: boolean;
  /** One line: when a client sees it. */
  readonly meaning: string;
}

export const ERROR_CATALOGUE = {
  bad_request: {
    status: 400,
    temporary: false,
    connectError: false,
    meaning: 'the request has the wrong shape: a missing, unknown or mistyped field, bad JSON',
  },
  invalid_room: {
    status: 400,
    temporary: false,
    connectError: false,
    meaning: 'a room name outside 1-200 characters of A-Z a-z 0-9 _ - : . @ / =',
  },
  not_joined: {
    status: 400,
    temporary: false,
    connectError: false,
    meaning:
      'socket `leave` of a room this connection has not joined, or a `join` whose room was left before it completed',
  },
  too_many_rooms: {
    status: 400,
    temporary: false,
    connectError: false,
    meaning: 'more rooms than one connection (or one SSE stream) may hold',
  },
  unauthorized: {
    status: 401,
    temporary: false,
    connectError: false,
    meaning: 'server API: no API key, an unknown key, or a key of another namespace',
  },
  token_missing: {
    status: 401,
    temporary: false,
    connectError: true,
    meaning: 'no user token was given',
  },
  token_invalid: {
    status: 401,
    temporary: false,
    connectError: true,
    meaning:
      'the user token is malformed, badly signed, of a refused algorithm or issuer/audience, or has no sub',
  },
  token_expired: {
    status: 401,
    temporary: false,
    connectError: true,
    meaning: 'the user token is past its exp (and the clock tolerance)',
  },
  token_revoked: {
    status: 401,
    temporary: false,
    connectError: true,
    meaning:
      'the user token was revoked by a `POST /v1/disconnect` with `reconnect: false` for its user (issued before it, or presented by a connection it closed)',
  },
  forbidden: {
    status: 403,
    temporary: false,
    connectError: false,
    meaning: 'the token has no right for the room, or presence is off for the room',
  },
  not_found: {
    status: 404,
    temporary: false,
    connectError: false,
    meaning: 'an unknown route or namespace',
  },
  payload_too_large: {
    status: 413,
    temporary: false,
    connectError: false,
    meaning: 'data over the namespace payload limit, or an HTTP body over the API body limit',
  },
  rate_limited: {
    status: 429,
    temporary: true,
    connectError: false,
    meaning: 'too many events or requests per second, or too many SSE streams of one user',
  },
  too_many_connections: {
    status: 429,
    temporary: true,
    connectError: true,
    meaning: 'the user has as many connections as the namespace allows per user; close one first',
  },
  internal: {
    status: 500,
    temporary: false,
    connectError: true,
    meaning: 'a bug; the details are in the broker log only',
  },
  unavailable: {
    status: 503,
    temporary: true,
    connectError: true,
    meaning: 'the node cannot serve it now: Redis away, shutting down, or at its connection limit',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

/** An error code of the catalogue. */
export type ErrorCode = keyof typeof ERROR_CATALOGUE;

/** Every error code, in the catalogue's order. */
export const ERROR_CODES = Object.keys(ERROR_CATALOGUE) as readonly ErrorCode[];

/** Codes a refused connection may carry as `connect_error` (`err.message` is the code, `err.data` `{ code, message }`). */
export type ConnectErrorCode = {
  [K in ErrorCode]: (typeof ERROR_CATALOGUE)[K]['connectError'] extends true ? K : never;
}[ErrorCode];

/** The facts of one code. */
export function errorInfo(code: ErrorCode): ErrorCodeInfo {
  return ERROR_CATALOGUE[code];
}

/** True for a string that is a code of the catalogue (not an inherited name such as `toString`). */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

/** True for a code a refused connection may carry. */
export function isConnectErrorCode(value: unknown): value is ConnectErrorCode {
  return isErrorCode(value) && ERROR_CATALOGUE[value].connectError;
}

/** Codes of `closing`, the event the server sends before it closes a connection for a reason of its own. */
export const CLOSING_CODES = {
  token_expired: 'the token expired and no `refresh` replaced it in time',
  disconnected: 'the server API closed the user (`POST /v1/disconnect`)',
  shutting_down: 'the node is shutting down; connect to another one',
  slow_consumer: 'the connection read too slowly: its unsent data passed `limits.sendQueueBytes`',
} as const satisfies Record<string, string>;

/** A code of `closing`. */
export type ClosingCode = keyof typeof CLOSING_CODES;
