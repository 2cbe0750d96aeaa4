/**
 * The wire protocol of roomcast: every event a client sends and receives, the message envelope,
 * acknowledgements and error codes. Both the server and the client SDK import these types, so
 * one change here is checked at both ends. This file has no runtime dependencies.
 */

/** Error codes that acknowledgements, HTTP errors and `connect_error` carry (contract section 3). */
export const ERROR_CODES = [
  'bad_request',
  'invalid_room',
  'forbidden',
  'not_joined',
  'too_many_rooms',
  'payload_too_large',
  'rate_limited',
  'unavailable',
  'internal',
  'not_found',
  'unauthorized',
  'token_missing',
  'token_invalid',
  'token_expired',
  'token_revoked',
  'too_many_connections',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Codes a refused connection carries as `connect_error` (`err.message` is the code, `err.data` this). */
export type ConnectErrorCode =
  | 'token_missing'
  | 'token_invalid'
  | 'token_expired'
  | 'token_revoked'
  | 'too_many_connections'
  | 'unavailable'
  | 'internal';

/** Codes of `closing`, sent before the server closes a connection for a reason of its own. */
export type ClosingCode = 'token_expired' | 'disconnected' | 'shutting_down' | 'slow_consumer';

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
export interface PublishRequest {
  room: string;
  event: string;
  data: unknown;
  echo?: boolean;
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
  leave: (req: LeaveRequest, ack: AckCallback<object>) => void;
  publish: (req: PublishRequest, ack: AckCallback<PublishReply>) => void;
  presence: (req: PresenceRequest, ack: AckCallback<PresenceReply>) => void;
  history: (req: HistoryRequest, ack: AckCallback<HistoryReply>) => void;
  refresh: (req: RefreshRequest, ack: AckCallback<RefreshReply>) => void;
}

/** Events the server emits to a client. */
export interface ServerToClientEvents {
  message: (envelope: Envelope) => void;
  presence: (event: PresenceEvent) => void;
  token_expiring: (event: { expiresAt: number }) => void;
  closing: (event: { code: ClosingCode; message: string }) => void;
}

// ---- server-to-server HTTP API ----

export interface ApiPublishRequest {
  namespace?: string;
  room?: string;
  rooms?: string[];
  event: string;
  data: unknown;
  idempotencyKey?: string;
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
