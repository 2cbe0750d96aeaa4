import type { Envelope, Member, PresenceEvent, RoomStat, StreamPosition } from '../protocol.js';
import type { MaybePromise } from './maybe.js';
import type { RevocationRule } from './revocations.js';

/**
 * The seam between the room logic and where rooms live, in domain words: offsets, history,
 * membership, idempotency, and delivery to the nodes that serve a room. One memory and one Redis
 * implementation (src/backends/, chosen in one place), and the same test suite runs against both.
 * Every method may reject with `RoomcastError('unavailable')` when the shared state cannot be
 * reached; nothing else is expected to fail.
 *
 * Delivery: `publish` stores a message and sends it in one step to every node that `watch`es its
 * room (this one included); what arrives is handed to the `DeliverySink` the engine was built
 * with, which is the node's one local delivery point (src/hub/).
 *
 * What a publish, a join, a leave and a connect call may be answered at once (`MaybePromise`): the
 * memory engine does, so those paths run in one tick on one node (src/rooms/maybe.ts). The rest
 * (reads for the server API, revocations) are promises from both engines.
 */
export interface Engine {
  readonly kind: 'memory' | 'redis';
  /**
   * Assigns the room's next offset, stores the message in history and sends it to the room's
   * watchers, in one atomic step. With `idempotencyKey`, a repeat within its window (even a
   * concurrent one, even on another node) returns the first result with `duplicate: true` and
   * sends nothing. An engine that can answer at once (the memory engine) returns the result
   * itself, not a promise: the socket path then acks in the same tick, with no promise between.
   */
  publish(ns: string, draft: Draft, policy: HistoryPolicy, opts?: PublishOpts): MaybePromise<Published>;
  /**
   * Messages after `since` (or the latest ones), with where the room's stream stands now. A room
   * with no stream answers `{ offset: 0, epoch: '' }` and none is created, unless `create` (a join).
   */
  history(ns: string, room: string, query: HistoryQuery, policy: HistoryPolicy): MaybePromise<HistoryResult>;
  /** Adds one connection of a user to a room; true when it is the user's first there. */
  addMember(ns: string, room: string, member: MemberRef, connId: string): MaybePromise<boolean>;
  /** Removes one connection; true when it was the user's last in the room. */
  removeMember(ns: string, room: string, sub: string, connId: string): MaybePromise<boolean>;
  /** How many connections a user has in a room, across the cluster. */
  memberConnections(ns: string, room: string, sub: string): Promise<number>;
  /** The room's members, one entry per user, across the cluster. */
  members(ns: string, room: string): Promise<Member[]>;
  /** Rooms that have members, with counts, across the cluster. */
  rooms(ns: string, prefix: string): Promise<RoomStat[]>;
  /** One room's counts, across the cluster (zero when nobody is in it); no scan of the other rooms. */
  room(ns: string, room: string): Promise<RoomStat>;
  /** Sends a presence event to every node that watches its room (this one included). */
  announce(ns: string, event: PresenceEvent, exceptConnId?: string): MaybePromise<void>;
  /**
   * Refuses a user's tokens from now on, cluster-wide, for `ttlMs`: those issued (`iat`, seconds)
   * before `before`, and the exact tokens whose hashes are in `tokens` (the connections closed
   * now, which may have been issued in the same second as the call).
   */
  revoke(ns: string, sub: string, rule: RevocationRule, ttlMs: number): Promise<void>;
  /** Whether a token of `sub` (its `iat`, and its hash) was revoked. */
  isRevoked(ns: string, sub: string, iat: number | undefined, tokenHash: string): MaybePromise<boolean>;
  /** This node starts receiving the room's messages; resolves once nothing published after it can be missed. */
  watch(ns: string, room: string): MaybePromise<void>;
  /** This node stops receiving the room's messages. */
  unwatch(ns: string, room: string): void;
  /** False while the shared state is unreachable (Redis away) or the node is resubscribing. */
  isReady(): boolean;
  close(): Promise<void>;
}

/** Where an engine hands what reaches this node: the node's one local delivery point. */
export interface DeliverySink {
  message(ns: string, envelope: Envelope, exceptConnId: string | undefined): void;
  presence(ns: string, event: PresenceEvent, exceptConnId: string | undefined): void;
  /**
   * Delivery may have missed messages (the node's subscriptions were down and are back): every
   * watched room should be checked against history.
   */
  resync(): void;
}

export interface PublishOpts {
  /** Whether `draft.data` holds binary parts, when the caller knows (looked up otherwise). */
  binary?: boolean | undefined;
  /** `draft.data` as JSON, when the caller has it already (no binary parts). */
  dataJson?: string | undefined;
  /** The publishing connection, which does not get the message (a publish without echo). */
  exceptConnId?: string | undefined;
  /**
   * A key of the namespace: a repeat within `idempotencyWindowMs`, to this room or another, gets
   * the first publish's result and sends nothing (on a Redis Cluster, per room: see redis-engine).
   */
  idempotencyKey?: string;
  idempotencyWindowMs?: number;
}

export interface Published extends StreamPosition {
  /** True when this repeats an earlier publish of the same idempotency key: nothing was sent. */
  duplicate: boolean;
  /** For a duplicate, the room the first publish went to (when the engine knows it). */
  room?: string;
}

/** A message before the engine gives it an offset. */
export type Draft = Omit<Envelope, 'offset' | 'epoch'>;

export interface MemberRef {
  sub: string;
  info: unknown;
}

export interface HistoryPolicy {
  /** Messages kept per room; 0 keeps none (offsets still count). */
  size: number;
  /** How long a message stays, in ms; 0 keeps it until pushed out by size. */
  ttlMs: number;
}

export interface HistoryQuery {
  since?: StreamPosition;
  limit: number;
  /** Start the room's stream when it has none (a join); reads create nothing. */
  create?: boolean;
}

export interface HistoryResult extends StreamPosition {
  messages: Envelope[];
  /** With `since`: false when history no longer reaches back that far, or the epoch changed. */
  recovered: boolean;
}

/**
 * The envelope of a draft once the engine gave it an offset, field by field in envelope order
 * (`{ ...draft, offset, epoch }` adds properties after a spread, which V8 in Node 20 runs on a slow
 * path: about 2 µs, once per message). Fields a draft does not have are not carried over.
 */
export function toEnvelope(draft: Draft, offset: number, epoch: string): Envelope {
  return {
    id: draft.id,
    room: draft.room,
    event: draft.event,
    data: draft.data,
    ts: draft.ts,
    from: draft.from,
    offset,
    epoch,
  };
}

/**
 * Which of `count` stored messages (oldest first; `offsetAt(i)` is the offset of the i-th) a history
 * query returns: those from `start` to before `end`, and whether they reach back to `since`. The one
 * rule both engines answer by (`selectHistory`, and the memory engine's columns).
 */
export function historyWindow(
  count: number,
  offsetAt: (i: number) => number,
  position: StreamPosition,
  query: HistoryQuery,
): { start: number; end: number; recovered: boolean } {
  const { since, limit } = query;
  if (!since) return { start: Math.max(0, count - limit), end: count, recovered: true };
  // `{ offset: 0, epoch: '' }`, the position of a room read before it had any state, is the start
  // of whatever epoch the room has now.
  const from = since.epoch === '' && since.offset === 0 ? position.epoch : since.epoch;
  if (from !== position.epoch || since.offset > position.offset)
    return { start: 0, end: 0, recovered: false };
  let start = 0;
  while (start < count && offsetAt(start) <= since.offset) start++;
  const oldest = start < count ? offsetAt(start) : position.offset + 1;
  return { start, end: Math.min(count, start + limit), recovered: oldest === since.offset + 1 };
}

/**
 * Picks what a history query returns from an ordered window of stored messages (oldest first).
 * Shared by both engines so they answer alike.
 */
export function selectHistory(
  stored: readonly Envelope[],
  position: StreamPosition,
  query: HistoryQuery,
): HistoryResult;
export function selectHistory<T extends { offset: number }>(
  stored: readonly T[],
  position: StreamPosition,
  query: HistoryQuery,
): StreamPosition & { messages: T[]; recovered: boolean };
export function selectHistory<T extends { offset: number }>(
  stored: readonly T[],
  position: StreamPosition,
  query: HistoryQuery,
): StreamPosition & { messages: T[]; recovered: boolean } {
  const { start, end, recovered } = historyWindow(stored.length, (i) => stored[i]!.offset, position, query);
  // Built field by field: `{ ...position, messages }` adds properties after a spread, which V8
  // (Node 20) runs on a slow path, about 1 µs per property added.
  return { offset: position.offset, epoch: position.epoch, messages: stored.slice(start, end), recovered };
}
