import { z } from 'zod';
import { parseInput } from '../errors.js';
import type { ClientEvent, RequestOf } from '../protocol.js';

/**
 * Schemas of the client events' payloads. They check shape only; room grammar, rights and
 * limits are the room manager's. Objects are strict: an unknown field is `bad_request` naming it,
 * as for HTTP bodies. Each schema's output is exactly its request type in protocol.ts (checked at
 * compile time below), so a field added to one and not the other does not compile.
 */

/** `required` when absent, else `expected`: the message of every failure of one field. */
export function says(expected: string) {
  return (iss: { input?: unknown }) => (iss.input === undefined ? 'required' : expected);
}

/**
 * A string of `min`-`max` characters; any failure reads `expected a string of 1-100 characters`.
 *
 * @example
 * const event = text(1, 100);
 */
export function text(min: number, max: number) {
  const expected = `expected a string of ${min}-${max} characters`;
  return z
    .string({ error: says(expected) })
    .min(min, { error: expected })
    .max(max, { error: expected });
}

/**
 * A whole number from `min` to `max` (default: the largest safe integer); any failure reads
 * `expected a whole number >= 0` or `expected a whole number from 0 to 100`.
 */
export function wholeNumber(min: number, max = Number.MAX_SAFE_INTEGER) {
  const expected =
    max >= Number.MAX_SAFE_INTEGER
      ? `expected a whole number >= ${min}`
      : `expected a whole number from ${min} to ${max}`;
  return z
    .number({ error: says(expected) })
    .int({ error: expected })
    .min(min, { error: expected })
    .max(max, { error: expected });
}

// `epoch: ""` is what a read of a room with no state answers; it goes with offset 0 and asks
// for everything the room's stream has (see `selectHistory`).
/**
 * An idempotency key of up to `max` characters: well-formed UTF-16 (Redis keeps keys as UTF-8, where
 * lone surrogates become one another) and no control characters (roomcast's own keys, out of
 * clients' reach, start with one).
 */
export function idempotencyKey(max: number) {
  const expected = `expected a string of 1-${max} characters, with no control characters`;
  return (
    z
      .string({ error: says(expected) })
      .min(1, { error: expected })
      .max(max, { error: expected })
      // A pattern, so the OpenAPI document shows it; well-formedness has none.
      .regex(NO_CONTROL, { error: expected })
      .refine((k) => k.isWellFormed(), { error: 'is not well-formed UTF-16 (a lone surrogate)' })
  );
}
// biome-ignore lint/suspicious/noControlCharactersInRegex: the control characters are what it refuses.
const NO_CONTROL = /^[^\u0000-\u001f\u007f]*$/;

const since = z
  .strictObject({ offset: wholeNumber(0), epoch: text(0, 64) })
  .refine((p) => p.epoch !== '' || p.offset === 0, {
    error: 'an empty epoch (a room that had no state) goes with offset 0',
    path: ['epoch'],
  });
// Any string: its grammar and length are the room manager's (`invalid_room`), not a shape error.
const room = z.string({ error: says('expected a room name (a string)') });

const joinSchema = z.strictObject({ room, since: since.optional() });
const leaveSchema = z.strictObject({ room });
const publishSchema = z.strictObject({
  room,
  event: text(1, 100),
  // Any JSON value; `null` is a value, absent is `required`.
  data: z.unknown(),
  echo: z.boolean({ error: says('expected true or false') }).optional(),
  idempotencyKey: idempotencyKey(128).optional(),
});
const presenceSchema = z.strictObject({ room });
const historySchema = z.strictObject({
  room,
  since: since.optional(),
  limit: wholeNumber(0, 1_000_000).optional(),
});
const refreshSchema = z.strictObject({ token: text(1, 16 * 1024) });

const schemas = {
  join: joinSchema,
  leave: leaveSchema,
  publish: publishSchema,
  presence: presenceSchema,
  history: historySchema,
  refresh: refreshSchema,
} satisfies { [E in ClientEvent]: z.ZodType<RequestOf<E>> };

/** True only when X and Y are the same type (optional fields and all). */
export type Same<X, Y> = (<T>() => T extends X ? 1 : 2) extends <T>() => T extends Y ? 1 : 2 ? true : false;

// Does not compile when a schema's output is not exactly its protocol request type: `satisfies`
// above lets a schema miss an optional field; this does not.
const _schemasAreTheProtocol: { [E in ClientEvent]: Same<z.output<(typeof schemas)[E]>, RequestOf<E>> } = {
  join: true,
  leave: true,
  publish: true,
  presence: true,
  history: true,
  refresh: true,
};

/** The payload schema of every client event, typed by the protocol's request types. */
export const requestSchemas: { readonly [E in ClientEvent]: z.ZodType<RequestOf<E>> } = schemas;

/**
 * Parses a payload; throws `bad_request` naming every field that is wrong (at most three), in
 * roomcast's words. With `event`, paths read `join.room`; without, `room` (`payload` for the whole).
 *
 * @example
 * const req = parsePayload(joinSchema, payload, 'join'); // join.since.offset: expected a whole number >= 0
 */
export function parsePayload<S extends z.ZodType>(schema: S, value: unknown, event?: string): z.output<S> {
  return parseInput(
    schema,
    value,
    event ? { root: event, prefixed: true } : { root: 'payload', prefixed: false },
  );
}
