import type { Namespace, Server } from 'socket.io';
import { checkNotRevoked, rememberToken, tokenHash } from '../auth/revocation.js';
import { createVerifier, type Verifier } from '../auth/verify.js';
import type { Config, NamespaceConfig } from '../config.js';
import { connectError, connectErrorOf } from '../errors.js';
import type { Hub, LocalSockets } from '../hub/hub.js';
import type { Logger } from '../logger.js';
import type { ClientToServerEvents, Envelope, ServerToClientEvents } from '../protocol.js';
import type { Engine } from '../rooms/engine.js';
import { RoomManager } from '../rooms/manager.js';
import type { RoomObserver, RoomPolicy } from '../rooms/manager-types.js';
import { andThen, type MaybePromise } from '../rooms/maybe.js';
import {
  attachConnection,
  bindHandlers,
  clientFor,
  expiresAtOf,
  type NamespaceContext,
  type RoomcastSocket,
  revokedUnchecked,
  type SocketData,
  socketExpiryHooks,
} from './connection.js';
import { EventLimit } from './event-limit.js';
import { admitToNode, admitUser, type EngineConn, handshakesOf } from './limits.js';
import { markUnchecked, type Recheck } from './recheck.js';
import { limitSendQueue } from './send-queue.js';

export type RoomcastNamespace = Namespace<
  ClientToServerEvents,
  ServerToClientEvents,
  Record<string, never>,
  SocketData
>;
export type RoomcastServer = Server<
  ClientToServerEvents,
  ServerToClientEvents,
  Record<string, never>,
  SocketData
>;

/** One namespace at run time: its Socket.IO namespace, room manager and handler context. */
export interface NamespaceRuntime {
  readonly name: string;
  readonly config: NamespaceConfig;
  readonly nsp: RoomcastNamespace;
  readonly rooms: RoomManager;
  readonly context: NamespaceContext;
}

/**
 * The hub's view of one namespace's sockets on this node, through Socket.IO's public API: sockets
 * join and leave rooms, and `local` emits reach this node's sockets only (other nodes get the
 * message from the engine, not from the adapter).
 */
export function localSockets(nsp: RoomcastNamespace): LocalSockets {
  // `nsp.local` makes two broadcast operators each time it is read; an operator never changes
  // (`to` and `except` return new ones), so one is kept, and made again only if the namespace's
  // adapter was replaced (`io.adapter()`).
  let adapter = nsp.adapter;
  let local = nsp.local;
  return {
    join(id, channels) {
      nsp.sockets.get(id)?.join(channels);
    },
    leave(id, channel) {
      nsp.sockets.get(id)?.leave(channel);
    },
    emit(channel, event, payload, except) {
      // Nobody here (a presence event in a room whose members may not see presence): Socket.IO
      // would still encode the packet. `adapter.rooms` is the adapter's public room map.
      if (nsp.adapter !== adapter) {
        adapter = nsp.adapter;
        local = nsp.local;
      }
      const members = adapter.rooms.get(channel);
      if (!members) return;
      const target = local.to(channel);
      // A connection is a room of its own id in Socket.IO: `except` only when it is a member here
      // (a publisher outside the room would cost an operator and a set per emit for nothing).
      const skip = except !== undefined && members.has(except);
      // The event map types `message` and `presence` apart; the hub passes the matching payload.
      (skip ? target.except(except) : target).emit(event as 'message', payload as Envelope);
    },
  };
}

/** Sets up one configured namespace: the auth middleware and the connection handlers. */
export function setupNamespace(
  io: RoomcastServer,
  config: Config,
  ns: NamespaceConfig,
  engine: Engine,
  hub: Hub,
  log: Logger,
  isAccepting: () => boolean,
  observer: RoomObserver = {},
): NamespaceRuntime {
  const nsp = io.of(ns.name);
  const { rooms, context, admission } = namespaceCore(io, config, ns, engine, hub, log, observer, {
    sockets: localSockets(nsp),
    policy: ns,
  });
  nsp.use((socket, next) => {
    if (!isAccepting()) return next(connectError('unavailable', 'the server is shutting down'));
    let admitted: MaybePromise<void>;
    try {
      admitToThisNode(admission, socket.conn);
    } catch (err) {
      return next(connectErrorOf(err));
    }
    try {
      const auth = socket.handshake.auth as Record<string, unknown> | undefined;
      admitted = admitToken(socket, admission, auth && typeof auth === 'object' ? auth.token : undefined);
    } catch (err) {
      refusedAtNode(admission, socket.conn);
      return next(connectErrorOf(err));
    }
    // Admitted in this tick when the engine answered at once (one node); `next` outside the try,
    // so nothing after it (Socket.IO's connect) is taken for a refusal.
    if (!(admitted instanceof Promise)) return next();
    admitted.then(
      () => next(),
      (err: unknown) => {
        refusedAtNode(admission, socket.conn);
        next(connectErrorOf(err));
      },
    );
  });
  const bound = bindHandlers(context);
  nsp.on('connection', (socket: RoomcastSocket) => {
    attachConnection(socket, context, bound);
    boundSendQueue(socket, admission, observer);
  });
  return { name: ns.name, config: ns, nsp, rooms, context };
}

/**
 * What every namespace has, whatever its clients speak: its room manager over the hub, the handler
 * context of roomcast clients, and what admitting a connection needs. `sockets` is how the hub
 * reaches this namespace's sockets; `policy` its room rules (the namespace config, or a variant).
 */
export function namespaceCore(
  io: RoomcastServer,
  config: Config,
  ns: NamespaceConfig,
  engine: Engine,
  hub: Hub,
  log: Logger,
  observer: RoomObserver,
  opts: { sockets: LocalSockets; policy: RoomPolicy },
): { rooms: RoomManager; context: NamespaceContext; admission: Admission } {
  // The hub asks the room manager for its rules; both exist before the first message arrives.
  const transport = hub.addNamespace(ns.name, opts.sockets, {
    presenceOn: (room) => rooms.presenceOn(room),
    historyPolicy: (room) => rooms.historyPolicy(room),
  });
  const rooms = new RoomManager(opts.policy, engine, transport, observer, config.api.idempotencyWindowMs);
  watchHandshakes(io, ns.name, config);
  const verifier = createVerifier(ns);
  const context: NamespaceContext = {
    config: ns,
    verifier,
    rooms,
    limit: new EventLimit(ns.limits.eventsPerSecond),
    replyBytes: Math.floor(config.limits.sendQueueBytes / 2),
    expiry: socketExpiryHooks(config.tokenExpiryLeadMs, ns.jwt.clockToleranceSec * 1000),
    recheck: {
      check: (claims, hash) =>
        checkNotRevoked(engine, ns.name, claims, hash, (err) =>
          log.debug({ err }, 'revocation check unavailable; let through, checked again at the next event'),
        ),
      onRevoked: revokedUnchecked,
    },
    log,
  };
  const admission = { io, config, ns, engine, hub, log, verifier, recheck: context.recheck };
  return { rooms, context, admission };
}

/** What admitting a connection to a namespace needs. */
export interface Admission {
  io: RoomcastServer;
  config: Config;
  ns: NamespaceConfig;
  engine: Engine;
  hub: Hub;
  log: Logger;
  verifier: Verifier;
  /** How a connection let in with an unchecked token is checked later (recheck.ts). */
  recheck: Recheck<RoomcastSocket>;
}

/**
 * `limits.maxConnections`: throws `unavailable` when this node is full. Else the connection holds
 * its place from now on, while the rest of its admission runs (a token check that waits on
 * Redis); `refused` gives the place back when that refuses it.
 */
export function admitToThisNode(a: Admission, conn: EngineConn): void {
  const max = a.config.limits.maxConnections;
  // No limit: nothing to count, and no handshake was tracked (`watchHandshakes`).
  if (max === null) return;
  const handshakes = handshakesOf(a.io);
  handshakes.prune(4);
  // Every connection and stream here, handshakes included; its own connection counts once,
  // whether this is its first namespace or not. Open ones are those less the handshakes.
  const all = a.io.engine.clientsCount + a.hub.receivers.total() + (handshakes.isWaiting(conn) ? 1 : 0);
  // When handshakes decide it, count them exactly: drop every one that closed.
  if (all - handshakes.waiting <= max && all > max) handshakes.prune();
  admitToNode(all - handshakes.waiting, max);
  handshakes.admitting(conn);
}

/** A connection that `admitToThisNode` let in was refused after all: a handshake again. */
export function refusedAtNode(a: Admission, conn: EngineConn): void {
  if (a.config.limits.maxConnections !== null) handshakesOf(a.io).refused(conn);
}

/**
 * A connection that a namespace took (its `connection` event) no longer waits. Only with
 * `limits.maxConnections` set: the handshake count serves that limit alone, and with no limit (the
 * default) a connection costs it no map entry and a handshake no work.
 */
function watchHandshakes(io: RoomcastServer, ns: string, config: Config): void {
  if (config.limits.maxConnections === null) return;
  const tracker = handshakesOf(io);
  io.of(ns).on('connection', (socket) => tracker.connected(socket.conn));
}

/**
 * Admits a connection with a roomcast token: verified, not revoked, within the user's
 * `connectionsPerUser`; fills `socket.data`, and takes the token out of the handshake. Throws (or
 * rejects with) the `RoomcastError` to refuse it with; in this tick when the engine answers at once.
 */
export function admitToken(socket: RoomcastSocket, a: Admission, token: unknown): MaybePromise<void> {
  const claims = a.verifier.verify(token);
  const hash = tokenHash(token as string);
  const checked = checkNotRevoked(a.engine, a.ns.name, claims, hash, (err) =>
    a.log.warn({ err }, 'revocation check unavailable; connection let in, checked again at its next event'),
  );
  return andThen(checked, (made) => {
    if (!made) markUnchecked(socket, { claims, hash }, a.recheck);
    socket.data.client = clientFor(socket.id, claims, a.ns);
    socket.data.expiresAt = expiresAtOf(claims);
    socket.data.tokens = rememberToken(undefined, { hash, iat: claims.iat });
    forgetToken(socket, token);
    const perUser = a.ns.limits.connectionsPerUser;
    if (perUser === null) return;
    return admitUser(a.engine, a.ns.name, claims.sub, socket.id, perUser, a.log).then((release) => {
      const conn = socket.conn;
      let held = true;
      const free = () => {
        if (!held) return;
        held = false;
        conn.off('close', free);
        release();
      };
      // A client gone while Redis counted it closed its connection already, and Socket.IO drops
      // the socket without a `disconnect`: its place is given back now, or it would be held for good.
      if (conn.readyState === 'closed') return free();
      // Either ends it: a socket refused after this, or whose connection closes before it is
      // accepted, fires no `disconnect`; a socket that disconnects leaves its connection open.
      socket.once('disconnect', free);
      conn.once('close', free);
    });
  });
}

/** `limits.sendQueueBytes` for an accepted socket (`slow_consumer`). */
export function boundSendQueue(socket: RoomcastSocket, a: Admission, observer: RoomObserver): void {
  limitSendQueue(socket, a.config.limits.sendQueueBytes, a.log, () => observer.slowConsumer?.(a.ns.name));
}

/**
 * Socket.IO keeps the handshake for the connection's lifetime. An admitted token is remembered by
 * its hash, so the handshake does not keep it: about 200 bytes per connection, and no bearer
 * credential of every connected user in the heap. (Set, not deleted: deleting a property turns the
 * object into a dictionary, which is bigger.)
 */
function forgetToken(socket: RoomcastSocket, token: unknown): void {
  const auth = socket.handshake.auth as Record<string, unknown> | undefined;
  if (auth && typeof auth === 'object' && auth.token === token) auth.token = undefined;
}
