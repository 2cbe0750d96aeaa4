import type {
  Envelope,
  PresenceEvent,
  PublishReply,
  PublishRequest,
  ReplyOf,
  RequestOf,
} from '../protocol.js';
import type { ClientError, Result } from './errors.js';
import type { UnrecoveredEvent } from './types.js';

/** The seam between a room handle and its client, in both directions. */

/** Message events of a room and the type of each one's `data`; `Record<string, unknown>` when untyped. */
export type MessageMap = object;

/** What a room needs from its client. */
export interface RoomHost {
  /** Sends a request on the current connection (waiting for one unless `now`). */
  request<E extends 'join' | 'leave' | 'publish' | 'presence' | 'history'>(
    event: E,
    payload: RequestOf<E>,
    opts: { room: string; now?: boolean },
  ): Promise<Result<ReplyOf<E>>>;
  /** Sends a publish, again with the same key while its acknowledgement is lost (see `publishOnce`). */
  publish(payload: PublishRequest): Promise<Result<PublishReply>>;
  /** The room was left or refused: stop routing to it. */
  forget(room: RoomInternals): void;
  /** Whether the client has a handle of room `name` (one joined again after a leave, say). */
  holds(name: string): boolean;
  /** Errors and unrecovered streams also go to the client's handlers. */
  error(err: ClientError): void;
  unrecovered(event: UnrecoveredEvent): void;
}

/** What the client calls on its rooms (the type parameter does not matter to it). */
export interface RoomInternals {
  readonly name: string;
  attach(): Promise<void>;
  receive(envelope: Envelope): void;
  presenceChanged(event: PresenceEvent): void;
  /** A refreshed token no longer allows the room; the server has left it. */
  revoke(): void;
  /** The client stopped before the room was first joined: `joined` answers with `error`. */
  stopped(error: ClientError | undefined): void;
  close(): void;
}
