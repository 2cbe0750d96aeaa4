import type { ManagerOptions, SocketOptions } from 'socket.io-client';
import type { ClosingCode, Publisher, StreamPosition } from '../protocol.js';
import type { ClientError } from './errors.js';
import type { UnrecoveredReason } from './stream.js';
import type { GetToken } from './token.js';

/**
 * Where the client's connection stands.
 *
 * - `connecting`: the first attempt (after `createClient` or `connect()`) is under way.
 * - `connected`: a broker accepted the connection; rooms are being (re)joined.
 * - `reconnecting`: the connection dropped or an attempt failed; the next attempt waits its backoff.
 * - `disconnected`: not connected and not trying: `disconnect()` was called, or the token was
 *   refused (a `POST /v1/disconnect` with `reconnect: false` revoked it).
 */
export type ConnectionState = 'connecting' | 'connected' | 'reconnecting' | 'disconnected';

/** Options of `createClient`. Every duration is in ms. */
export interface ClientOptions {
  /** The broker, e.g. `http://localhost:3000`. In a browser it defaults to the page's origin. */
  url?: string;
  /** Several nodes of one cluster: each new attempt after a drop or a failure goes to the next. */
  urls?: string[];
  /** The Socket.IO namespace; default `/`. */
  namespace?: string;
  /** A user JWT. With `getToken` too, it is used first. */
  token?: string;
  /** Called for a fresh token: before connecting without one, on `token_expiring`, after `token_expired`. */
  getToken?: GetToken;
  /** How long a request waits for its acknowledgement (and for a connection); default 10000. */
  ackTimeoutMs?: number;
  /**
   * How many times a publish whose acknowledgement was lost (`timeout`, `disconnected`) is sent
   * again, with the same idempotency key so the broker applies it once; default 2, 0 turns it off.
   */
  publishRetries?: number;
  /** How long one connection attempt may take; default 10000. */
  connectTimeoutMs?: number;
  /** First reconnection delay, doubled per failed attempt; default 500. */
  reconnectionDelay?: number;
  /** Largest reconnection delay; default 5000. */
  reconnectionDelayMax?: number;
  /** Randomizes each delay by up to this share, so clients do not all return at once; default 0.5. */
  randomizationFactor?: number;
  /** Connect at once; default true. Otherwise call `client.connect()`. */
  autoConnect?: boolean;
  /** Passed to socket.io-client (`transports`, `path`, `extraHeaders`, ...). Reconnection stays the SDK's. */
  socketOptions?: Partial<ManagerOptions & SocketOptions>;
}

/** Everything about one message but its data. */
export interface MessageMeta {
  id: string;
  room: string;
  event: string;
  /** Per room, from 1; one more for every message. */
  offset: number;
  /** Names the life of the room's history; offsets of different epochs are not comparable. */
  epoch: string;
  /** ms since the Unix epoch, when the broker accepted the message. */
  ts: number;
  /** The publishing user, or null for the server API. */
  from: Publisher | null;
  /** True when the message came from recovery (a rejoin or a gap fill) rather than live. */
  replayed: boolean;
}

/** A handler of one message event: its data and the meta. */
export type MessageHandler<D = unknown> = (data: D, meta: MessageMeta) => void;

/** The answer to a join: where the room stands, and whether the asked `since` was reached. */
export interface JoinInfo extends StreamPosition {
  recovered: boolean;
}

/** Each successful join and rejoin of a room. */
export interface JoinedEvent extends JoinInfo {
  room: string;
  /** True when the join asked for `since` (a rejoin, or `join(room, { since })`). */
  resumed: boolean;
  /** True for the first successful join of this room handle. */
  first: boolean;
}

/** Messages between `from` and `to` are lost to the client: reload what the app shows. */
export interface UnrecoveredEvent {
  room: string;
  reason: UnrecoveredReason;
  from: StreamPosition | null;
  to: StreamPosition;
}

/** A member came (first connection of a user) or went (the last one). */
export interface PresenceChange {
  room: string;
  action: 'join' | 'leave';
  member: Publisher;
}

/** Events of the client (`client.on(...)`). */
export interface ClientEvents {
  /** Every change of `client.state`. */
  state: (state: ConnectionState) => void;
  connecting: () => void;
  connected: (info: { url: string }) => void;
  /** Before each new attempt; `error` is why the last one failed, `reason` why a connection dropped. */
  reconnecting: (info: {
    attempt: number;
    delayMs: number;
    url: string;
    reason: string;
    error?: ClientError;
  }) => void;
  disconnected: (info: { reason: string; error?: ClientError }) => void;
  /** A refused token, a failed refresh, a failed join, a throwing handler: never thrown, always here. */
  error: (error: ClientError) => void;
  /** The server is about to close the connection, and why. */
  closing: (info: { code: ClosingCode; message: string }) => void;
  /** The token runs out at `expiresAt`; with `getToken` the SDK refreshes it on its own. */
  token_expiring: (info: { expiresAt: number }) => void;
  token_refreshed: (info: { expiresAt: number | null }) => void;
  /** A room could not be resumed without loss (also on the room: `room.onUnrecovered`). */
  unrecovered: (event: UnrecoveredEvent) => void;
}
