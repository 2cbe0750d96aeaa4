/**
 * The wire protocol of roomcast: every event a client sends and receives, the message envelope,
 * acknowledgements and error codes. Both the server and the client SDK import these types, so
 * one change here is checked at both ends. Its only import is the error catalogue
 * (`error-codes.ts`), which has none: the SDK can carry both.
 */

export {
  CLOSING_CODES,
  type ClosingCode,
  type ConnectErrorCode,
  ERROR_CATALOGUE,
  ERROR_CODES,
  type ErrorCode,
  type ErrorCodeInfo,
} from './error-codes.js';

import type { ClosingCode, ErrorCode } from './error-codes.js';

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

export interface Failure {
  ok: false;
  error: ErrorBody;
}

/** An acknowledgement: `{ ok: true, ...T }` or `{ ok: false, error }`. */
export type Ack<T extends object = object> = ({ ok: true } & T) | Failure;

/** Where a room's history stands: `offset` counts messages from 1; `epoch` names the history's life. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** Who published a message: a connected user, or `null` for the server API. */
export interface Publisher {
  sub: string;
  info: unknown;
}

/** One published message, as delivered live, replayed from history and sent over SSE. */
export interface Envelope<D = unknown> {
  id: string;
  room: string;
  event: string;
  data: D;
  offset: number;
  epoch: string;
  /** ms since the Unix epoch, when the broker accepted the message. */
  ts: number;
  from: Publisher | null;
}

export interface Member {
  sub: string;
  info: unknown;
  connections: number;
}

export interface PresenceEvent {
  room: string;
  action: 'join' | 'leave';
  member: { sub: string; info: unknown };
}

// ---- client -> server payloads and replies ----

export interface JoinRequest {
  room: string;
  since?: StreamPosition;
}
export interface JoinReply extends StreamPosition {
  room: string;
  recovered: boolean;
  messages: Envelope[];
}
export interface LeaveRequest {
  room: string;
}
/** `leave` answers `{ ok: true }` and nothing else. */
export type LeaveReply = Record<never, never>;
export interface PublishRequest {
  room: string;
  event: string;
  data: unknown;
  /** Deliver it to the publishing connection too. */
  echo?: boolean;
  /**
   * 1-128 characters. Within the idempotency window a repeat of the key in the same room (and
   * namespace) gets the first publish's result and delivers nothing.
   */
  idempotencyKey?: string;
}
export type PublishReply = StreamPosition;
export interface PresenceRequest {
  room: string;
}
export interface PresenceReply {
  members: Member[];
}
export interface HistoryRequest {
  room: string;
  since?: StreamPosition;
  limit?: number;
}
export interface HistoryReply extends StreamPosition {
  messages: Envelope[];
  /** False when `since` was given and messages after it are no longer kept (or the epoch changed). */
  recovered: boolean;
}
export interface RefreshRequest {
  token: string;
}
export interface RefreshReply {
  expiresAt: number | null;
  /** Rooms this connection was in that the new token does not allow: they were left (absent when none). */
  left?: string[];
}

export type AckCallback<T extends object> = (reply: Ack<T>) => void;

/** Events a client emits; every one takes an acknowledgement. */
export interface ClientToServerEvents {
  join: (req: JoinRequest, ack: AckCallback<JoinReply>) => void;
  leave: (req: LeaveRequest, ack: AckCallback<LeaveReply>) => void;
  publish: (req: PublishRequest, ack: AckCallback<PublishReply>) => void;
  presence: (req: PresenceRequest, ack: AckCallback<PresenceReply>) => void;
  history: (req: HistoryRequest, ack: AckCallback<HistoryReply>) => void;
  refresh: (req: RefreshRequest, ack: AckCallback<RefreshReply>) => void;
}

/** The name of an event a client sends. */
export type ClientEvent = keyof ClientToServerEvents;
/** The payload a client event takes. */
export type RequestOf<E extends ClientEvent> = Parameters<ClientToServerEvents[E]>[0];
/** The fields of the `ok` acknowledgement of a client event. */
export type ReplyOf<E extends ClientEvent> =
  Parameters<ClientToServerEvents[E]>[1] extends AckCallback<infer T> ? T : never;

/** Events the server emits to a client. */
export interface ServerToClientEvents {
  message: (envelope: Envelope) => void;
  presence: (event: PresenceEvent) => void;
  token_expiring: (event: { expiresAt: number }) => void;
  closing: (event: { code: ClosingCode; message: string }) => void;
}

// ---- server-to-server HTTP API ----

/** `POST /v1/publish` (and each message of `POST /v1/batch`): exactly one of `room`, `rooms`. */
export interface ApiPublishRequest {
  namespace?: string;
  room?: string;
  rooms?: string[];
  event: string;
  /** Any JSON value; `null` is a value, absent is `bad_request` (as for a socket `publish`). */
  data: unknown;
  idempotencyKey?: string;
}
export interface ApiBatchRequest {
  messages: ApiPublishRequest[];
}
export interface ApiPublishResult extends StreamPosition {
  room: string;
}
export interface ApiPublishReply {
  ok: true;
  results: ApiPublishResult[];
}
export interface RoomStat {
  room: string;
  members: number;
  connections: number;
}
/** `GET /v1/rooms`. */
export interface ApiRoomsReply {
  ok: true;
  rooms: RoomStat[];
}
/** `GET /v1/rooms/:room/presence`. */
export interface ApiPresenceReply extends PresenceReply {
  ok: true;
}
/** `GET /v1/rooms/:room/history`. */
export interface ApiHistoryReply extends HistoryReply {
  ok: true;
}
export interface ApiDisconnectRequest {
  namespace?: string;
  sub: string;
  /** `false`: the user's tokens issued before the call are refused until they expire (`token_revoked`). */
  reconnect?: boolean;
}
/** `POST /v1/disconnect`: how many connections were closed. */
export interface ApiDisconnectReply {
  ok: true;
  disconnected: number;
}

/** The rights claim of a user token: room-name patterns, exact or with `*`. */
export interface RoomRights {
  subscribe?: string[];
  publish?: string[];
  presence?: string[];
}

/** The claims roomcast reads from a user JWT. */
export interface UserClaims {
  sub: string;
  exp?: number;
  iat?: number;
  rooms?: RoomRights;
  info?: unknown;
}
