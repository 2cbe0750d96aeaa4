import { z } from 'zod';
import type { Config } from '../config.js';
import type { ApiDisconnectRequest, ApiPublishRequest } from '../protocol.js';
import { idempotencyKey as keyOf, type Same, says, text } from '../socket/schemas.js';

/**
 * Schemas of the server API's bodies, query strings and path parameters (zod, the project's one
 * validator). The routes declare them (`schema`), fastify validates with them, and the OpenAPI
 * document is generated from them. They check shape only: room grammar, payload size and rights
 * are the room manager's, exactly as for a socket `publish`. Bodies are strict, so a misspelt
 * field (`idempotency_key`) is a 400 instead of a silent no-op; query strings ignore unknown
 * parameters (cache busters).
 */

const namespace = text(1, 200).optional().describe('the namespace; "/" when absent');
// Its length is the room grammar's (`invalid_room`, as for a socket `join`), not a shape check.
const room = z.string({ error: says('expected a room name (a string)') });
const idempotencyKey = keyOf(200)
  .optional()
  .describe('a repeat with the same key within the idempotency window returns the first result');
/** A whole number in a query string (digits), as a number. */
const digits = z
  .string({ error: says('expected a whole number >= 0') })
  .regex(/^\d{1,15}$/, { error: 'expected a whole number >= 0' })
  .transform(Number);
// The schemas' "exactly one of room, rooms" is a refinement, which JSON Schema output drops.
const ROOM_CHOICE = [{ required: ['room'] }, { required: ['rooms'] }];

/** Builds the schemas with the configured limits. */
export function createApiSchemas(api: Config['api']) {
  const roomList = `expected a list of 1-${api.maxRoomsPerPublish} room names`;
  const publish = z
    .strictObject({
      namespace,
      room: room.optional(),
      rooms: z
        .array(room, { error: says(roomList) })
        .min(1, { error: roomList })
        .max(api.maxRoomsPerPublish, { error: roomList })
        .optional(),
      event: text(1, 100),
      data: z.unknown().describe('any JSON value; null is a value, absent is a 400'),
      idempotencyKey,
    })
    .refine((b) => (b.room === undefined) !== (b.rooms === undefined), {
      error: 'give exactly one of "room" and "rooms"',
      path: ['room'],
    })
    .meta({ oneOf: ROOM_CHOICE });
  const messages = `expected a list of 1-${api.maxBatchMessages} publish bodies`;
  const batch = z.strictObject({
    messages: z
      .array(publish, { error: says(messages) })
      .min(1, { error: messages })
      .max(api.maxBatchMessages, { error: messages }),
  });
  const rooms = z.object({ namespace, prefix: z.string().max(200).optional() });
  const presence = z.object({ namespace });
  const history = z
    .object({
      namespace,
      since: digits.optional().describe('the offset last seen: answer the messages after it'),
      epoch: text(1, 64)
        .optional()
        .describe('the epoch of "since" (recommended); without it, "since" is in the current epoch'),
      limit: digits.optional().describe('at most this many messages (default and maximum: historyLimit)'),
    })
    .refine((q) => q.epoch === undefined || q.since !== undefined, {
      error: 'needs "since" (the offset it belongs to)',
      path: ['epoch'],
    });
  const disconnect = z.strictObject({ namespace, sub: text(1, 256), reconnect: z.boolean().optional() });
  const events = z.object({
    namespace,
    room: z
      .union([room, z.array(room)], { error: says('expected a room name (repeat the parameter for more)') })
      .describe('a room; repeat the parameter for more'),
    token: z
      .string()
      .max(16 * 1024)
      .optional()
      .describe('the user JWT, for clients that cannot send Authorization (EventSource)'),
    lastEventId: z
      .string()
      .max(64 * 1024)
      .optional()
      .describe('resume every room of the stream (as Last-Event-ID)'),
  });
  return { publish, batch, rooms, presence, history, disconnect, events };
}

/**
 * A query string without its empty parameters: `?namespace=&limit=` reads as if neither were
 * given (the README's templates, and what a form or `http_build_query` sends for a blank value),
 * so each takes its default instead of failing its shape.
 *
 * @example
 * presentParams({ namespace: '', limit: '10' }); // { limit: '10' }
 */
export function presentParams(query: unknown): unknown {
  if (typeof query !== 'object' || query === null) return query;
  const entries = Object.entries(query);
  if (!entries.some(([, v]) => v === '')) return query;
  return Object.fromEntries(entries.filter(([, v]) => v !== ''));
}

/** The path parameter of the room routes. */
export const roomParams = z.object({
  room: z.string().describe('the room name, URL-encoded (chat%2Fmain)'),
});

export type ApiSchemas = ReturnType<typeof createApiSchemas>;
export type PublishBody = z.output<ApiSchemas['publish']>;

// Does not compile when a body schema's output is not exactly its protocol type.
const _bodiesAreTheProtocol: [
  Same<PublishBody, ApiPublishRequest>,
  Same<z.output<ApiSchemas['disconnect']>, ApiDisconnectRequest>,
] = [true, true];
