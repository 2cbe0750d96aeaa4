import { z } from 'zod';
import { RoomcastError } from '../errors.js';

/**
 * Schemas of the client events' payloads. They check shape only; room grammar, rights and
 * limits are the room manager's. Unknown fields are dropped, so prototype keys go nowhere.
 */

const since = z.object({
  offset: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  epoch: z.string().min(1).max(64),
});
// Any string: its grammar and length are the room manager's (`invalid_room`), not a shape error.
const room = z.string();

export const joinSchema = z.object({ room, since: since.optional() });
export const leaveSchema = z.object({ room });
export const publishSchema = z.object({
  room,
  event: z.string().min(1).max(100),
  data: z.unknown(),
  echo: z.boolean().optional(),
});
export const presenceSchema = z.object({ room });
export const historySchema = z.object({
  room,
  since: since.optional(),
  limit: z.number().int().min(0).max(1_000_000).optional(),
});
export const refreshSchema = z.object({
  token: z
    .string()
    .min(1)
    .max(16 * 1024),
});

export { since as sinceSchema };

/** Parses a payload; throws `bad_request` naming the first field that is wrong. */
export function parsePayload<T>(schema: z.ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue?.path.length ? issue.path.join('.') : 'payload';
  throw new RoomcastError('bad_request', `${field}: ${issue?.message ?? 'invalid'}`);
}
