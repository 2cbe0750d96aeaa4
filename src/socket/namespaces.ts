import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Namespace, Server } from 'socket.io';
import { createVerifier } from '../auth/verify.js';
import type { Config, NamespaceConfig } from '../config.js';
import { connectError, connectErrorOf } from '../errors.js';
import type { Logger } from '../logger.js';
import type { ClientToServerEvents, ServerToClientEvents } from '../protocol.js';
import type { Engine } from '../rooms/engine.js';
import { RoomManager, type RoomObserver, type Transport } from '../rooms/manager.js';
import { messageChannel, presenceChannel } from '../rooms/names.js';
import {
  attachConnection,
  bindHandlers,
  clientFor,
  expiresAtOf,
  type NamespaceContext,
  type RoomcastSocket,
  type SocketData,
} from './connection.js';

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
  readonly transport: Transport;
}

/**
 * Delivery over Socket.IO rooms. Membership goes straight to the adapter, so an SSE stream can be
 * a member too (it has an id but no socket); in cluster mode the adapter carries each broadcast
 * to the nodes that have members of the room.
 */
export function socketTransport(nsp: RoomcastNamespace): Transport {
  return {
    join(connId, room, presence) {
      const channels = presence ? [messageChannel(room), presenceChannel(room)] : [messageChannel(room)];
      void nsp.adapter.addAll(connId, new Set(channels));
    },
    setPresence(connId, room, on) {
      if (on) void nsp.adapter.addAll(connId, new Set([presenceChannel(room)]));
      else void nsp.adapter.del(connId, presenceChannel(room));
    },
    leave(connId, room) {
      void nsp.adapter.del(connId, messageChannel(room));
      void nsp.adapter.del(connId, presenceChannel(room));
    },
    message(envelope, exceptConnId) {
      const target = nsp.to(messageChannel(envelope.room));
      (exceptConnId ? target.except(exceptConnId) : target).emit('message', envelope);
    },
    presence(event, exceptConnId) {
      const target = nsp.to(presenceChannel(event.room));
      (exceptConnId ? target.except(exceptConnId) : target).emit('presence', event);
    },
  };
}

/** Sets up one configured namespace: the auth middleware and the connection handlers. */
export function setupNamespace(
  io: RoomcastServer,
  config: Config,
  ns: NamespaceConfig,
  engine: Engine,
  log: Logger,
  isAccepting: () => boolean,
  observer: RoomObserver = {},
): NamespaceRuntime {
  const nsp = io.of(ns.name);
  const transport = socketTransport(nsp);
  const rooms = new RoomManager(ns, engine, transport, observer, config.api.idempotencyWindowMs);
  const verifier = createVerifier(ns);
  const context: NamespaceContext = {
    config: ns,
    verifier,
    rooms,
    limiter: new RateLimiterMemory({ points: ns.limits.eventsPerSecond, duration: 1 }),
    tokenExpiryLeadMs: config.tokenExpiryLeadMs,
    log,
  };
  nsp.use((socket, next) => {
    if (!isAccepting()) return next(connectError('unavailable', 'the server is shutting down'));
    try {
      const auth = socket.handshake.auth as Record<string, unknown> | undefined;
      const claims = verifier.verify(auth && typeof auth === 'object' ? auth.token : undefined);
      socket.data.client = clientFor(socket.id, claims, ns);
      socket.data.expiresAt = expiresAtOf(claims);
      next();
    } catch (err) {
      next(connectErrorOf(err));
    }
  });
  const bound = bindHandlers(context);
  nsp.on('connection', (socket: RoomcastSocket) => attachConnection(socket, context, bound));
  return { name: ns.name, config: ns, nsp, rooms, context, transport };
}
