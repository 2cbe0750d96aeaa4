import type { PublishReply, StreamPosition } from '../protocol.js';
import type { MaybePromise } from './maybe.js';
import type { PayloadInfo } from './payload.js';
import type { Rights } from './rights.js';

/**
 * The room manager's seams: who it serves (`Client`), how it subscribes connections on this node
 * (`Transport`, the hub), what a publish takes and answers, what it reports (`RoomObserver`), and
 * the namespace rules it applies (`RoomPolicy`). manager.ts re-exports them.
 */

/** A connected user as the room manager sees it: a Socket.IO connection or an SSE stream. */
export interface Client {
  readonly id: string;
  readonly sub: string;
  info: unknown;
  rights: Rights;
  /** Rooms this connection has joined. */
  readonly rooms: Set<string>;
}

/**
 * How the room manager subscribes connections on this node (the hub implements it, src/hub/).
 * `join` returns (or resolves) once the node receives the room's messages, so a history read after
 * it misses nothing.
 */
export interface Transport {
  /** Subscribes a connection to a room's messages, and to its presence events when `presence`. */
  join(client: Client, room: string, presence: boolean): MaybePromise<void>;
  leave(client: Client, room: string): void;
  /** Starts or stops a member's presence events of a room it has joined. */
  setPresence(client: Client, room: string, on: boolean): void;
  /** A join read the room's history up to `position`: live delivery here continues after it. */
  readUpTo(room: string, position: StreamPosition): void;
  /**
   * A message about to be published that connection `connId` (here, joined to its room) must not
   * get: kept until it is delivered here, so that it is left out also when it comes from history
   * (a gap filled after a lost delivery), which does not carry that.
   */
  leaveOut?(messageId: string, connId: string): void;
  /** A message `leaveOut` was told of that will not be sent (refused, or a repeat of its key). */
  forgetLeftOut?(messageId: string): void;
}

/**
 * What a publish answers: the socket ack's `{ offset, epoch }`; for a server-API publish that
 * repeats an idempotency key first used for another room, that room too.
 */
export type PublishResult = PublishReply & { room?: string };

export interface PublishOptions {
  /** Deliver to the publishing connection too (sockets only). */
  echo?: boolean;
  source?: 'socket' | 'api';
  /** What `checkMessage(event, data)` answered, when the caller ran it already. */
  payload?: PayloadInfo;
  /** Within the idempotency window, a repeat of this key in this room gets the first result and no delivery. */
  idempotencyKey?: string | undefined;
  /** A connection that does not get the message, for a publish by the server (Laravel's `toOthers`). */
  except?: string;
}

export interface PublishInput {
  room: string;
  event: string;
  data: unknown;
}

/** Observes what the manager does, for metrics; every hook is optional. */
export interface RoomObserver {
  /** After a publish was stored and sent; `seconds` is how long that took. */
  published?(source: 'socket' | 'api', ns: string, seconds: number): void;
  joined?(room: string, ns: string): void;
  /** A connection was closed for not reading (`slow_consumer`). */
  slowConsumer?(ns: string): void;
}

/** The room rules of one namespace (its config block): limits, history and presence by room pattern. */
export interface RoomPolicy {
  readonly name: string;
  readonly limits: {
    readonly roomsPerConnection: number;
    readonly payloadBytes: number;
    readonly historyLimit: number;
    readonly roomNameLength: number;
  };
  readonly history: readonly { pattern: string; size: number; ttlMs: number }[];
  readonly presence: readonly string[];
  /**
   * Messages go out (also) as Socket.IO events named after their event (Laravel Echo clients):
   * the names Socket.IO reserves are refused, as its `emit` throws for them.
   */
  readonly socketIoEvents?: boolean;
}
