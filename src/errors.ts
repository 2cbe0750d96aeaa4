import type { z } from 'zod';
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

// ---- invalid input: zod issues in roomcast's words, for sockets and HTTP alike ----

/** What zod hands an error map: an issue before its message is set. */
type RawIssue = z.core.$ZodRawIssue;

/**
 * The error map every roomcast parse runs with (`schema.safeParse(value, { error: inputErrorMap })`):
 * what was expected, in roomcast's words. A schema or check with a message of its own (a
 * refinement, a field that says "a string of 1-100 characters") keeps it.
 */
export function inputErrorMap(iss: RawIssue): string {
  switch (iss.code) {
    case 'invalid_type':
      if (iss.input === undefined || iss.expected === 'nonoptional') return 'required';
      return `expected ${kind(iss.expected)}, got ${kindOf(iss.input)}`;
    case 'too_small':
      return bound('at least', '>=', '>', iss.origin, Number(iss.minimum), iss.inclusive !== false);
    case 'too_big':
      return bound('at most', '<=', '<', iss.origin, Number(iss.maximum), iss.inclusive !== false);
    case 'invalid_format':
      return iss.format === 'regex' && iss.pattern
        ? `does not match ${iss.pattern}`
        : `expected ${iss.format}`;
    case 'unrecognized_keys':
      return 'unknown field';
    case 'invalid_value':
      return `expected ${iss.values.map((v) => (typeof v === 'string' ? JSON.stringify(v) : String(v))).join(' or ')}`;
    default:
      return 'is not valid';
  }
}

/** Where parsed input came from: names the whole of it, and whether field paths start with that name. */
export interface InputPlace {
  /** The event (`publish`), or `body` / `query` for HTTP. */
  root: string;
  /** Field paths read `publish.data` (true) or `data` (false). */
  prefixed: boolean;
}

/** How many unknown fields past the first a message names (the rest are counted). */
const NAMED_KEYS = 3;

/** A field name as a message shows it: at most 64 characters. */
function shortKey(key: string): string {
  return key.length > 64 ? `${key.slice(0, 63)}…` : key;
}

/**
 * The `bad_request` for zod's issues: up to three, each as `path: what was expected`
 * (`publish.data: required`, `messages.3.event: expected a string of 1-100 characters`,
 * `join.extra: unknown field`). An issue names at most four unknown fields and counts the rest;
 * a field name is cut at 64 characters.
 */
export function invalidInput(issues: readonly z.core.$ZodIssue[], place: InputPlace): RoomcastError {
  const lines = issues.slice(0, 20).map((issue) => {
    const path = issue.path.map((p) => shortKey(String(p)));
    if (issue.code === 'unrecognized_keys') path.push(shortKey(issue.keys[0] ?? ''));
    const field = place.prefixed || path.length === 0 ? [place.root, ...path].join('.') : path.join('.');
    const others = issue.code === 'unrecognized_keys' ? issue.keys.length - 1 : 0;
    const named = issue.code === 'unrecognized_keys' ? issue.keys.slice(1, 1 + NAMED_KEYS) : [];
    const more = others > named.length ? `, ${others - named.length} more` : '';
    const also =
      others > 0 ? ` (and ${named.map((k) => JSON.stringify(shortKey(k))).join(', ')}${more})` : '';
    return `${field}: ${issue.message}${also}`;
  });
  // One field can fail two checks with one message (1e300 is neither whole nor in range): said once.
  const said = [...new Set(lines)].slice(0, 3);
  return new RoomcastError('bad_request', said.join('; ') || `${place.root}: is not valid`);
}

/**
 * Parses untrusted input with roomcast's error map; throws `bad_request` (see `invalidInput`).
 *
 * @example
 * const req = parseInput(joinSchema, payload, { root: 'join', prefixed: true });
 */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, place: InputPlace): z.output<S> {
  // Binary data where a payload's fields are, checked first: zod sees a Buffer as an object with
  // one field per byte, and walks them all (200 ms for 1 MB, and a reply of megabytes naming them).
  const binary = binaryPath(value);
  if (binary) {
    const field = place.prefixed || binary.length === 0 ? [place.root, ...binary] : binary;
    const expected = binary.length === 0 ? 'an object' : 'a value';
    throw new RoomcastError('bad_request', `${field.join('.')}: expected ${expected}, got binary data`);
  }
  // Parsed without options first: zod's fast path, which options turn off (about 8× the cost of a
  // valid publish payload). Only input that fails is parsed again for roomcast's messages.
  const fast = schema.safeParse(value);
  if (fast.success) return fast.data;
  const parsed = schema.safeParse(value, { error: inputErrorMap });
  if (parsed.success) return parsed.data;
  throw invalidInput(parsed.error.issues, place);
}

/**
 * Where input holds binary (a Buffer, a typed array, an ArrayBuffer) outside `data`, the one field
 * that may, two levels deep at most (`since.offset`): the path (empty for the input itself), or
 * null when nowhere. Allocates nothing unless it finds some: it runs on every event.
 */
function binaryPath(value: unknown, depth = 0): string[] | null {
  if (typeof value !== 'object' || value === null) return null;
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return [];
  if (depth >= 2 || Array.isArray(value)) return null;
  const record = value as Record<string, unknown>;
  for (const key in record) {
    if ((depth === 0 && key === 'data') || !Object.hasOwn(record, key)) continue;
    const found = binaryPath(record[key], depth + 1);
    if (found) return [key, ...found];
  }
  return null;
}

function bound(words: string, op: string, strictOp: string, origin: string, n: number, inclusive: boolean) {
  switch (origin) {
    case 'string':
      return `expected ${words} ${n} character${n === 1 ? '' : 's'}`;
    case 'array':
    case 'set':
      return `expected ${words} ${n} item${n === 1 ? '' : 's'}`;
    default:
      return `expected a number ${inclusive ? op : strictOp} ${n}`;
  }
}

const KINDS: Record<string, string> = {
  int: 'a whole number',
  number: 'a number',
  string: 'a string',
  boolean: 'true or false',
  object: 'an object',
  array: 'a list',
};

function kind(expected: string): string {
  return KINDS[expected] ?? expected;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'number') return Number.isInteger(value) ? 'a whole number' : 'a number';
  return kind(typeof value);
}
