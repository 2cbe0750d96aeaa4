import { z } from 'zod';
import type { Config } from '../config.js';

/**
 * Schemas of the server API's bodies and query strings (zod, the project's one validator; the
 * OpenAPI document is generated from the same schemas). They check shape only: room grammar,
 * payload size and rights are the room manager's, exactly as for a socket `publish`. Bodies are
 * strict, so a misspelt field (`idempotency_key`) is a 400 instead of a silent no-op; query strings
 * ignore unknown parameters (cache busters).
 */

const namespace = z.string().min(1).max(200).optional().describe('the namespace; "/" when absent');
const room = z.string().max(1000);
const event = z.string().min(1).max(100);
const idempotencyKey = z
  .string()
  .min(1)
  .max(200)
  .optional()
  .describe('a repeat with the same key within the idempotency window returns the first result');
const offset = z.string().regex(/^\d{1,15}$/, 'must be a whole number');

/** Builds the schemas with the configured limits. */
export function createApiSchemas(api: Config['api']) {
  const publish = z
    .object({
      namespace,
      room: room.optional(),
      rooms: z.array(room).min(1).max(api.maxRoomsPerPublish).optional(),
      event,
      data: z.unknown().optional(),
      idempotencyKey,
    })
    .strict()
    .refine((b) => (b.room === undefined) !== (b.rooms === undefined), {
      message: 'give exactly one of "room" and "rooms"',
      path: ['room'],
    });
  const batch = z.object({ messages: z.array(publish).min(1).max(api.maxBatchMessages) }).strict();
  const rooms = z.object({ namespace, prefix: z.string().max(200).optional() });
  const presence = z.object({ namespace });
  const history = z
    .object({
      namespace,
      since: offset.optional().describe('the offset last seen: answer the messages after it'),
      epoch: z
        .string()
        .min(1)
        .max(64)
        .optional()
        .describe('the epoch of "since" (recommended); without it, "since" is in the current epoch'),
      limit: offset.optional(),
    })
    .refine((q) => q.epoch === undefined || q.since !== undefined, {
      message: '"epoch" needs "since"',
      path: ['epoch'],
    });
  const disconnect = z
    .object({ namespace, sub: z.string().min(1).max(256), reconnect: z.boolean().optional() })
    .strict();
  const roomList = z.union([room, z.array(room)]);
  const events = z.object({
    namespace,
    room: roomList.describe('a room; repeat the parameter for more'),
    token: z
      .string()
      .max(16 * 1024)
      .optional(),
    lastEventId: z
      .string()
      .max(64 * 1024)
      .optional(),
  });
  return { publish, batch, rooms, presence, history, disconnect, events };
}

export type ApiSchemas = ReturnType<typeof createApiSchemas>;
export type PublishBody = z.output<ApiSchemas['publish']>;
