import type { Envelope, Member, RoomStat, StreamPosition } from '../protocol.js';

/**
 * The cluster seam, in domain words: offsets, history, membership, idempotency. One memory and one
 * Redis implementation; `createEngine` (broker/engine.ts) picks one from config, and the same test
 * suite runs against both. Every method may reject with `RoomcastError('unavailable')` when the
 * shared state cannot be reached; nothing else is expected to fail.
 */
export interface Engine {
  readonly kind: 'memory' | 'redis';
  /**
   * Assigns the room's next offset and stores the message in history in one atomic step.
   * `binary`: whether `draft.data` holds binary parts, when the caller knows (it is looked up
   * otherwise).
   */
  publish(ns: string, draft: Draft, policy: HistoryPolicy, binary?: boolean): Promise<Envelope>;
  /** Messages after `since` (or the latest ones), with where the room's stream stands now. */
  history(ns: string, room: string, query: HistoryQuery, policy: HistoryPolicy): Promise<HistoryResult>;
  /** Adds one connection of a user to a room; true when it is the user's first there. */
  addMember(ns: string, room: string, member: MemberRef, connId: string): Promise<boolean>;
  /** Removes one connection; true when it was the user's last in the room. */
  removeMember(ns: string, room: string, sub: string, connId: string): Promise<boolean>;
  /** The room's members, one entry per user, across the cluster. */
  members(ns: string, room: string): Promise<Member[]>;
  /** Rooms that have members, with counts, across the cluster. */
  rooms(ns: string, prefix: string): Promise<RoomStat[]>;
  /**
   * Runs `run` once per `key` within `windowMs` across the cluster; a repeat (even a concurrent
   * one) gets the first result. Results must be JSON.
   */
  once<T>(ns: string, key: string, windowMs: number, run: () => Promise<T>): Promise<T>;
  /**
   * Called when presence changes other than through a connection's own join or leave: a dead
   * node's members leave, and a node that was reaped while frozen brings its members back (join).
   */
  onPresenceChanged(listener: PresenceListener): void;
  /** False while the shared state is unreachable (Redis away). */
  isReady(): boolean;
  close(): Promise<void>;
}

export type PresenceListener = (
  ns: string,
  room: string,
  action: 'join' | 'leave',
  member: MemberRef,
) => void;

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
}

export interface HistoryResult extends StreamPosition {
  messages: Envelope[];
  /** With `since`: false when history no longer reaches back that far, or the epoch changed. */
  recovered: boolean;
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
  const { since, limit } = query;
  if (!since) {
    const messages = stored.slice(Math.max(0, stored.length - limit));
    return { ...position, messages, recovered: true };
  }
  if (since.epoch !== position.epoch || since.offset > position.offset) {
    return { ...position, messages: [], recovered: false };
  }
  const newer = stored.filter((m) => m.offset > since.offset);
  const oldest = newer[0]?.offset ?? position.offset + 1;
  const recovered = oldest === since.offset + 1;
  return { ...position, messages: newer.slice(0, limit), recovered };
}
