import type { Socket } from 'socket.io';
import { clearExpiry, type Expiring, type ExpiryHooks, scheduleExpiry } from '../auth/expiry.js';
import { type PresentedToken, rememberToken, tokenHash } from '../auth/revocation.js';
import type { Verifier } from '../auth/verify.js';
import type { NamespaceConfig } from '../config.js';
import { RoomcastError, toFailure } from '../errors.js';
import type { Logger } from '../logger.js';
import type {
  ClientEvent,
  ClientToServerEvents,
  ClosingCode,
  ReplyOf,
  RequestOf,
  ServerToClientEvents,
  UserClaims,
} from '../protocol.js';
import type { RoomManager } from '../rooms/manager.js';
import type { Client } from '../rooms/manager-types.js';
import { andThen } from '../rooms/maybe.js';
import { rightsFor } from '../rooms/rights.js';
import { withinReplyLimits } from './attachments.js';
import type { EventLimit, LimitHolder } from './event-limit.js';
import {
  checkedFirst,
  markChecked,
  markUnchecked,
  type Recheck,
  startRecheck,
  stopRecheck,
  type Unchecked,
} from './recheck.js';
import { parsePayload, requestSchemas } from './schemas.js';

export interface SocketData extends LimitHolder, Expiring {
  client: Client;
  /**
   * The tokens this connection presented (connect, refreshes), for `POST /v1/disconnect
   * { reconnect: false }` to revoke by hash.
   */
  tokens: PresentedToken[];
  /** Set when a revocation has taken this connection's tokens: a `refresh` after that is refused. */
  revoking?: boolean;
  /**
   * Tokens this connection was let in or refreshed with while their revocation could not be
   * checked (Redis away): checked before its next event (recheck.ts), the connection closed if one
   * was revoked.
   */
  unchecked?: Unchecked;
}

export type RoomcastSocket = Socket<
  ClientToServerEvents,
  ServerToClientEvents,
  Record<string, never>,
  SocketData
>;

/** What the handlers of one namespace share. */
export interface NamespaceContext {
  config: NamespaceConfig;
  verifier: Verifier;
  rooms: RoomManager;
  /** `limits.eventsPerSecond`, per connection. */
  limit: EventLimit;
  /** The most bytes of messages a `join` or `history` reply carries: half of `limits.sendQueueBytes`. */
  replyBytes: number;
  /** `token_expiring` and the close at expiry (`tokenExpiryLeadMs`, the clock tolerance). */
  expiry: ExpiryHooks<RoomcastSocket>;
  /**
   * The namespace's revocation check (`check`: throws `token_revoked` for a token `POST /v1/disconnect
   * { reconnect: false }` revoked; false when it could not be made, the token let in), and how a
   * connection let in unchecked and found revoked later is closed (recheck.ts).
   */
  recheck: Recheck<RoomcastSocket>;
  log: Logger;
}

/**
 * A bound handler as the dispatcher calls it: the raw payload in, the reply's fields out, or a
 * promise of them (a reply known at once, a publish on the memory engine, is acked in the same tick).
 */
export type Handler = (payload: unknown, socket: RoomcastSocket) => object | Promise<object>;

/** The handler of one event, typed by the protocol: its parsed request in, its reply out. */
type EventHandler<E extends ClientEvent> = (
  req: RequestOf<E>,
  socket: RoomcastSocket,
) => ReplyOf<E> | Promise<ReplyOf<E>>;

/** One handler per client event (docs/api.md): do the work, reply with an ack (the payload is parsed before). */
const handlers: { [E in ClientEvent]: (ctx: NamespaceContext) => EventHandler<E> } = {
  join: (ctx) => (req, socket) =>
    andThen(ctx.rooms.join(socket.data.client, req.room, req.since), (reply) =>
      withinReplyLimits(reply, ctx.replyBytes),
    ),
  leave: (ctx) => (req, socket) => andThen(ctx.rooms.leave(socket.data.client, req.room), () => ({})),
  publish: (ctx) => (req, socket) =>
    ctx.rooms.publish(
      socket.data.client,
      { room: req.room, event: req.event, data: req.data },
      { echo: req.echo === true, source: 'socket', idempotencyKey: req.idempotencyKey },
    ),
  presence: (ctx) => async (req, socket) => ({
    members: await ctx.rooms.presence(socket.data.client, req.room),
  }),
  history: (ctx) => async (req, socket) =>
    withinReplyLimits(
      await ctx.rooms.historyOf(socket.data.client, req.room, req.since, req.limit),
      ctx.replyBytes,
    ),
  refresh: (ctx) => async (req, socket) => {
    const claims = ctx.verifier.verify(req.token);
    const client = socket.data.client;
    if (claims.sub !== client.sub)
      throw new RoomcastError('forbidden', 'a refreshed token must have the same sub');
    // Kept before the check, so a revocation that takes this connection's tokens meanwhile names
    // this one too. A revoked token renews nothing: it would be refused at connect, so here too.
    const hash = tokenHash(req.token as string);
    socket.data.tokens = rememberToken(socket.data.tokens, { hash, iat: claims.iat });
    // Not checked (Redis away): checked before the connection's next event. Checked: it is a token
    // of the user's that is not revoked, which speaks for the connection whatever it opened with.
    if (await ctx.recheck.check(claims, hash)) markChecked(socket);
    else markUnchecked(socket, { claims, hash }, ctx.recheck);
    if (socket.data.revoking) throw new RoomcastError('token_revoked', REVOKED_MESSAGE);
    // Rights, info and expiry change together, with no await in between: two refreshes in flight
    // cannot leave one token's rights with the other's expiry (reauthorize sets the rights at once).
    client.info = claims.info ?? null;
    const expiresAt = expiresAtOf(claims);
    socket.data.expiresAt = expiresAt;
    armExpiry(socket, ctx);
    const left = await ctx.rooms.reauthorize(client, rightsFor(claims.rooms, claims.sub, ctx.config.rules));
    // `left` only when something was left: the documented reply is `{ ok, expiresAt }`.
    return left.length > 0 ? { expiresAt, left } : { expiresAt };
  },
};

const REVOKED_MESSAGE = 'this connection is being disconnected with its tokens revoked';

/** One event's handler over the raw payload: parsed by its schema (`bad_request` in roomcast's words). */
function bind<E extends ClientEvent>(event: E, ctx: NamespaceContext): Handler {
  const handle = handlers[event](ctx);
  const schema = requestSchemas[event];
  // Not async: a payload that does not parse throws here, inside `run`'s try (one promise less per event).
  return (payload, socket) => handle(parsePayload(schema, payload, event), socket);
}

/** The `Client` of a verified token, as the room manager sees it. */
export function clientFor(id: string, claims: UserClaims, ns: NamespaceConfig): Client {
  return {
    id,
    sub: claims.sub,
    info: claims.info ?? null,
    rights: rightsFor(claims.rooms, claims.sub, ns.rules),
    rooms: new Set(),
  };
}

export function expiresAtOf(claims: UserClaims): number | null {
  return typeof claims.exp === 'number' ? claims.exp * 1000 : null;
}

/** The namespace's handlers, bound once and shared by all its connections. */
export function bindHandlers(ctx: NamespaceContext): ReadonlyMap<string, Handler> {
  return new Map((Object.keys(handlers) as ClientEvent[]).map((event) => [event, bind(event, ctx)]));
}

/**
 * Wires one accepted connection: one listener dispatches every event (fewer closures per idle
 * connection), the token timer, and cleanup on disconnect.
 */
export function attachConnection(
  socket: RoomcastSocket,
  ctx: NamespaceContext,
  bound: ReadonlyMap<string, Handler>,
): void {
  socket.onAny((event: unknown, ...args: unknown[]) => {
    // Unknown events count against the rate limit too, so a flood of them costs the sender alone.
    const handle = (typeof event === 'string' ? bound.get(event) : undefined) ?? unknownEvent(event);
    run(socket, ctx, String(event), handle, args);
  });
  armExpiry(socket, ctx);
  startRecheck(socket, ctx.recheck);
  // One listener does all the cleanup (each listener is kept for the connection's lifetime).
  socket.on('disconnect', () => {
    clearExpiry(socket.data);
    stopRecheck(socket);
    void ctx.rooms.leaveAll(socket.data.client);
  });
}

function unknownEvent(event: unknown): Handler {
  const name = String(event).slice(0, 100);
  return async () => {
    throw new RoomcastError('bad_request', `unknown event "${name}"`);
  };
}

/** (Re)schedules `token_expiring` and the close at expiry; a token without `exp` needs no timer. */
function armExpiry(socket: RoomcastSocket, ctx: NamespaceContext): void {
  if (socket.disconnected) clearExpiry(socket.data);
  else scheduleExpiry(socket, socket.data, ctx.expiry);
}

/** The token-expiry hooks of a namespace, shared by all its connections (`NamespaceContext.expiry`). */
export function socketExpiryHooks(leadMs: number, graceMs: number): ExpiryHooks<RoomcastSocket> {
  return {
    leadMs,
    graceMs,
    warn: (socket, expiresAt) => socket.emit('token_expiring', { expiresAt }),
    expire: (socket) => closeConnection(socket, 'token_expired', 'the token has expired'),
  };
}

/**
 * Runs one event and acks it. Not async: a handler that answers at once is acked in this tick,
 * and only a handler that returns a promise is waited for.
 */
function run(socket: RoomcastSocket, ctx: NamespaceContext, event: string, handle: Handler, args: unknown[]) {
  const last = args[args.length - 1];
  const ack = typeof last === 'function' ? (last as (reply: object) => void) : undefined;
  // `emit('join', ack)` sends no payload: the ack is the only argument, not the payload.
  const payload = ack && args.length === 1 ? undefined : args[0];
  try {
    ctx.limit.take(socket.data);
    const reply = socket.data.unchecked
      ? checkedFirst(socket, ctx.recheck, event, () => handle(payload, socket))
      : handle(payload, socket);
    // One `then` with both handlers, not `.then().catch()`: one promise less held per event in
    // flight. (An ack that throws is not handed to `fail`, which could only ack once more.)
    if (reply instanceof Promise)
      reply.then(
        (r: object) => ack?.({ ok: true, ...r }),
        (err: unknown) => fail(err, socket, ctx, event, ack),
      );
    else ack?.({ ok: true, ...reply });
  } catch (err) {
    fail(err, socket, ctx, event, ack);
  }
}

/** A token the connection was let in with unchecked turned out revoked (called after the ack). */
export function revokedUnchecked(socket: RoomcastSocket): void {
  closeConnection(socket, 'disconnected', 'a token this connection presented was revoked');
}

/** Acks a failed event in roomcast's error shape; an unexpected error is logged as `internal`. */
function fail(
  err: unknown,
  socket: RoomcastSocket,
  ctx: NamespaceContext,
  event: string,
  ack: ((reply: object) => void) | undefined,
) {
  const failure = toFailure(err);
  if (failure.error.code === 'internal')
    ctx.log.error({ err, event, sid: socket.id }, 'event handler failed');
  ack?.(failure);
}

/**
 * How many namespace sockets each Engine.IO connection has open, roomcast's and Laravel Echo's (a
 * WeakMap: nothing to clean); counted by `limitSendQueue`, which every accepted socket gets.
 */
const namespacesOpen = new WeakMap<object, number>();

export function namespaceOpened(conn: object): void {
  namespacesOpen.set(conn, (namespacesOpen.get(conn) ?? 0) + 1);
}

export function namespaceClosed(conn: object): void {
  namespacesOpen.set(conn, (namespacesOpen.get(conn) ?? 1) - 1);
}

/**
 * The node is going away: every socket gets `closing { code: "shutting_down" }`, then every
 * Engine.IO connection closes (after what was sent to it, the `closing` included, is flushed). The
 * client sees `transport close`, not `io server disconnect`, so any Socket.IO client reconnects by
 * itself (to another node, through the balancer): Laravel Echo, python-socketio and bare
 * socket.io-client users as well as the SDK. All namespaces are told before any connection closes:
 * a connection carries every namespace a client opened on it.
 */
export function closeAllForShutdown(sockets: Iterable<RoomcastSocket>): void {
  const conns = new Set<RoomcastSocket['conn']>();
  for (const socket of sockets) {
    if (!socket.connected) continue;
    socket.emit('closing', { code: 'shutting_down', message: 'the server is shutting down' });
    conns.add(socket.conn);
  }
  for (const conn of conns) conn.close();
}

/**
 * Tells the client why, then closes its connection: this namespace only, since other namespaces
 * multiplexed on the same Engine.IO connection have tokens of their own (`disconnect(true)` would
 * drop them without a `closing`). The underlying connection closes once no namespace is left, so
 * a client that does not close it itself is not left holding it.
 */
export function closeConnection(socket: RoomcastSocket, code: ClosingCode, message: string): void {
  if (!socket.connected) return;
  socket.emit('closing', { code, message });
  socket.disconnect();
  if ((namespacesOpen.get(socket.conn) ?? 0) <= 0) socket.conn.close();
}
