import type { Socket } from 'socket.io';
import type { Config, NamespaceConfig } from '../config.js';
import { asRoomcastError } from '../errors.js';
import type { Hub, LocalSockets } from '../hub/hub.js';
import type { Logger } from '../logger.js';
import type { Engine } from '../rooms/engine.js';
import type { Client, RoomObserver } from '../rooms/manager-types.js';
import { attachConnection, bindHandlers, type RoomcastSocket } from '../socket/connection.js';
import {
  admitToken,
  admitToThisNode,
  boundSendQueue,
  type NamespaceRuntime,
  namespaceCore,
  type RoomcastServer,
  refusedAtNode,
} from '../socket/namespaces.js';
import { createAuthorizer } from './authorizer.js';
import { toEchoMember } from './channels.js';
import { attachEchoConnection, type EchoContext } from './connection.js';

/** In an Echo namespace, presence (members, joining, leaving) is on for `presence-*` channels. */
export const ECHO_PRESENCE = ['presence-*'];

/** Socket.IO rooms of Echo sockets: a prefix of their own, so one emit per shape reaches each kind. */
const ECHO_ROOM = 'e';

/** A socket that connected without a roomcast token: a Laravel Echo client. */
export function isEchoSocket(socket: Socket | undefined): boolean {
  return (socket?.data as { echo?: unknown } | undefined)?.echo !== undefined;
}

/**
 * The hub's view of an Echo namespace's sockets. The namespace serves two kinds of client on the
 * same rooms: roomcast SDK clients (a token in the handshake) get `message` and `presence` as
 * everywhere; Laravel Echo clients sit in rooms under their own prefix and get what Echo listens
 * for: `(event, channel, data)`, `presence:joining` and `presence:leaving` `(channel, member)`.
 */
export function echoLocalSockets(nsp: RoomcastNamespaceLike): LocalSockets {
  const roomsOf = (socket: Socket, channels: string[]) =>
    isEchoSocket(socket) ? channels.map((c) => ECHO_ROOM + c) : channels;
  return {
    join(id, channels) {
      const socket = nsp.sockets.get(id);
      socket?.join(roomsOf(socket, channels));
    },
    leave(id, channel) {
      const socket = nsp.sockets.get(id);
      if (socket) for (const room of roomsOf(socket, [channel])) socket.leave(room);
    },
    emit(channel, event, payload, except) {
      const sdk = nsp.local.to(channel);
      (except ? sdk.except(except) : sdk).emit(event, payload);
      const echoTarget = nsp.local.to(ECHO_ROOM + channel);
      const echo = except ? echoTarget.except(except) : echoTarget;
      if ('action' in payload) {
        const name = payload.action === 'join' ? 'presence:joining' : 'presence:leaving';
        echo.emit(name, payload.room, toEchoMember(payload.member));
      } else {
        echo.emit(payload.event, payload.room, payload.data);
      }
    },
  };
}

/** What `echoLocalSockets` needs of a namespace: Socket.IO's public API, untyped events. */
interface RoomcastNamespaceLike {
  readonly sockets: Map<string, Socket>;
  readonly local: {
    to(room: string): {
      except(id: string): { emit(event: string, ...args: unknown[]): boolean };
      emit(event: string, ...args: unknown[]): boolean;
    };
  };
}

/**
 * Sets up a namespace configured with `echo`: clients with a roomcast token are served as in any
 * namespace (src/socket/); clients without one are Laravel Echo clients (./connection.ts). Both
 * kinds share the namespace's one room manager, so an Echo channel is a roomcast room.
 */
export function setupEchoNamespace(
  io: RoomcastServer,
  config: Config,
  ns: NamespaceConfig,
  engine: Engine,
  hub: Hub,
  log: Logger,
  isAccepting: () => boolean,
  observer: RoomObserver = {},
): NamespaceRuntime {
  const echo = ns.echo;
  if (!echo) throw new Error(`namespace ${ns.name} has no echo config`);
  const nsp = io.of(ns.name);
  const { rooms, context, admission } = namespaceCore(io, config, ns, engine, hub, log, observer, {
    sockets: echoLocalSockets(nsp as unknown as RoomcastNamespaceLike),
    policy: { ...ns, presence: ECHO_PRESENCE, socketIoEvents: true },
  });
  const echoContext: EchoContext = {
    config: ns,
    rooms,
    limit: context.limit,
    log,
    authorize: createAuthorizer({
      url: echo.authHost + echo.authEndpoint,
      timeoutMs: echo.authTimeoutMs,
      maxConcurrent: echo.maxConcurrentAuth,
    }),
  };
  nsp.use(async (socket, next) => {
    if (!isAccepting()) return next(connectError('unavailable', 'the server is shutting down'));
    try {
      admitToThisNode(admission, socket.conn);
    } catch (err) {
      const e = asRoomcastError(err);
      return next(connectError(e.code, e.message));
    }
    try {
      const auth = socket.handshake.auth as Record<string, unknown> | undefined;
      const token = auth && typeof auth === 'object' ? auth.token : undefined;
      if (token === undefined) {
        // Laravel Echo sends `{ headers }` (socket.io-client 3+) or nothing (2.x): no token.
        socket.data.client = echoClient(socket.id);
        socket.data.expiresAt = null;
        socket.data.tokens = [];
        (socket.data as { echo?: object }).echo = {};
        return next();
      }
      // A roomcast client in an Echo namespace is admitted as in any namespace.
      await admitToken(socket, admission, token);
      next();
    } catch (err) {
      refusedAtNode(admission, socket.conn);
      const e = asRoomcastError(err);
      next(connectError(e.code, e.message));
    }
  });
  const bound = bindHandlers(context);
  nsp.on('connection', (socket: RoomcastSocket) => {
    if (isEchoSocket(socket as unknown as Socket))
      attachEchoConnection(socket as unknown as Socket, echoContext);
    else attachConnection(socket, context, bound);
    boundSendQueue(socket, admission, observer);
  });
  return { name: ns.name, config: ns, nsp, rooms, context };
}

/** The connection-wide client of an Echo socket (it has no user until a presence channel names one). */
function echoClient(id: string): Client {
  return {
    id,
    sub: `echo:${id}`,
    info: null,
    rights: { subscribe: [], publish: [], presence: [] },
    rooms: new Set(),
  };
}

function connectError(code: string, message: string): Error & { data: { code: string; message: string } } {
  return Object.assign(new Error(code), { data: { code, message } });
}
