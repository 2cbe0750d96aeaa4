import { RoomcastError } from '../errors.js';
import type { JoinReply, StreamPosition } from '../protocol.js';
import type { HistoryResult } from './engine.js';
import type { Client } from './manager-types.js';

/** First joins still on their way (an engine that answers later: Redis), by connection and room. */
const firstJoins = new WeakMap<Client, Map<string, Promise<JoinReply>>>();

/** The connection's first join of `room` while it is still on its way, if there is one. */
export function firstJoinOf(client: Client, room: string): Promise<JoinReply> | undefined {
  return firstJoins.get(client)?.get(room);
}

/** Keeps `joined` as the connection's first join of `room` until it settles, either way. */
export function trackFirstJoin(client: Client, room: string, joined: Promise<JoinReply>): void {
  const pending = firstJoins.get(client) ?? new Map<string, Promise<JoinReply>>();
  firstJoins.set(client, pending);
  pending.set(room, joined);
  const done = () => {
    if (pending.get(room) === joined) pending.delete(room);
  };
  void joined.then(done, done);
}

/**
 * Throws `not_joined` when the connection left `room` (a `leave`, or it closed) while its join
 * waited on the engine: the join stops there and is undone, and its reply says so.
 */
export function stillJoining(client: Client, room: string): void {
  if (!client.rooms.has(room))
    throw new RoomcastError('not_joined', `room "${room}" was left while it was being joined`);
}

/** The reply to a join: the replayed messages only when the client asked from a position. */
export function joinReply(room: string, result: HistoryResult, since: StreamPosition | undefined): JoinReply {
  return {
    room,
    offset: result.offset,
    epoch: result.epoch,
    recovered: since ? result.recovered : false,
    messages: since ? result.messages : [],
  };
}
