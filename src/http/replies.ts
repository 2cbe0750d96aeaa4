import { z } from 'zod';
import { ERROR_CATALOGUE, ERROR_CODES, type ErrorCode } from '../error-codes.js';
import type {
  ApiDisconnectReply,
  ApiHistoryReply,
  ApiPresenceReply,
  ApiPublishReply,
  ApiRoomsReply,
  Envelope,
  Failure,
} from '../protocol.js';
import type { Same } from '../socket/schemas.js';

/**
 * Schemas of the server API's replies, declared by each route (`schema.response`): fastify
 * serializes through them and the OpenAPI document shows them. Their output types are exactly the
 * reply types of protocol.ts (checked at compile time below). The shared parts carry an `id`, so
 * the document refers to them as components (`#/components/schemas/Envelope`); they are made once
 * per process, since an id may be registered only once.
 */

const position = {
  offset: z.number().int().min(0).describe('per room, from 1; 0 before the first message'),
  epoch: z
    .string()
    .describe('names the life of the room history; offsets of different epochs are not comparable'),
};

const publishResult = z.object({ room: z.string(), ...position }).meta({ id: 'PublishResult' });
const envelope = z
  .object({
    id: z.string(),
    room: z.string(),
    event: z.string(),
    data: z.unknown(),
    ...position,
    ts: z.number().int().describe('ms since the Unix epoch, when the broker accepted the message'),
    from: z
      .object({ sub: z.string(), info: z.unknown() })
      .nullable()
      .describe('the publishing user, or null for the server API'),
  })
  .meta({ id: 'Envelope' });
const member = z
  .object({ sub: z.string(), info: z.unknown(), connections: z.number().int().min(1) })
  .meta({ id: 'Member' });
const roomStat = z
  .object({ room: z.string(), members: z.number().int().min(0), connections: z.number().int().min(0) })
  .meta({ id: 'RoomStat' });

const ok = <T extends z.core.$ZodLooseShape>(shape: T) => z.object({ ok: z.literal(true), ...shape });

export const publishReply = ok({ results: z.array(publishResult) }).describe(
  'one result per message and room',
);
export const roomsReply = ok({ rooms: z.array(roomStat) }).describe('rooms with a member, sorted');
export const presenceReply = ok({ members: z.array(member) }).describe('one entry per user');
export const historyReply = ok({
  messages: z.array(envelope),
  ...position,
  recovered: z
    .boolean()
    .describe('false when history no longer reaches back to `since` (or the epoch changed)'),
}).describe('messages, oldest first, and where the room stands');
export const disconnectReply = ok({ disconnected: z.number().int().min(0) }).describe('connections closed');

/** The failure reply of one status: `{ ok: false, error: { code, message } }` with that status's codes. */
interface FailureResponse {
  description: string;
  content: { 'application/json': { schema: z.ZodType<Failure> } };
}

/** Every status of the catalogue, with the failure body of its codes (an OpenAPI component each). */
const failures = new Map<number, FailureResponse>();
for (const status of new Set(Object.values(ERROR_CATALOGUE).map((info) => info.status))) {
  const codes = ERROR_CODES.filter((code) => ERROR_CATALOGUE[code].status === status);
  const schema = z
    .object({
      ok: z.literal(false),
      error: z.object({ code: z.enum(codes as [ErrorCode, ...ErrorCode[]]), message: z.string() }),
    })
    .meta({
      id: `Failure${status}`,
      description: codes.map((code) => `${code}: ${ERROR_CATALOGUE[code].meaning}`).join('; '),
    });
  failures.set(status, { description: codes.join(', '), content: { 'application/json': { schema } } });
}

/**
 * A route's `schema.response`: its `ok` reply for 200 (a zod schema, or `{ description, content }`
 * for another media type), and for every status of the catalogue the failure body
 * `{ ok: false, error: { code, message } }` with the codes of that status.
 *
 * @example
 * app.get('/v1/rooms', { schema: { querystring, response: responses(roomsReply) } }, handler);
 */
export function responses<T>(reply: T): { 200: T } & Record<number, T | FailureResponse> {
  return { 200: reply, ...Object.fromEntries(failures) };
}

// Does not compile when a reply schema's output is not exactly its protocol type.
const _repliesAreTheProtocol: [
  Same<z.output<typeof publishReply>, ApiPublishReply>,
  Same<z.output<typeof roomsReply>, ApiRoomsReply>,
  Same<z.output<typeof presenceReply>, ApiPresenceReply>,
  Same<z.output<typeof historyReply>, ApiHistoryReply>,
  Same<z.output<typeof disconnectReply>, ApiDisconnectReply>,
  Same<z.output<typeof envelope>, Envelope>,
] = [true, true, true, true, true, true];
