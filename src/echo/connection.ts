import type { Socket } from 'socket.io';
import type { NamespaceConfig } from '../config.js';
import { asRoomcastError, httpStatus, RoomcastError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { RoomManager } from '../rooms/manager.js';
import type { Client } from '../rooms/manager-types.js';
import type { EventLimit, LimitHolder } from '../socket/event-limit.js';
import type { AuthRequest, AuthResult } from './authorizer.js';
import { channelKind, isEchoChannel, memberFromAuthReply, toEchoMember } from './channels.js';

/** What the Echo handlers of one namespace share. */
export interface EchoContext {
  config: NamespaceConfig;
  rooms: RoomManager;
  /** `limits.eventsPerSecond`, per connection. */
  limit: EventLimit;
  log: Logger;
  authorize(req: AuthRequest): Promise<AuthResult>;
}

/** An Echo socket's channels: one room-manager client per channel, since each may name its own user. */
interface EchoState extends LimitHolder {
  channels: Map<string, Client>;
  /** The operation in progress per channel: subscribe and unsubscribe of one channel run in order. */
  ops: Map<string, Promise<void>>;
  /** Channels being subscribed (auth, join): they count against the channel limit already. */
  joining: Set<string>;
}

/** Every right: an Echo channel is authorized by the app before the room manager sees it. */
const ALL = { subscribe: ['*'], publish: ['*'], presence: ['*'] } as const;
const MAX_EVENT_NAME = 200;

/**
 * Wires one Laravel Echo socket: `subscribe`, `unsubscribe` and `client event` as Echo emits
 * them (no acknowledgements). Refusals go out as `subscription_error (channel, status)` for a
 * subscription, and as `roomcast:error { code, message, event }` for anything else, since Echo
 * has no error event of its own.
 */
export function attachEchoConnection(socket: Socket, ctx: EchoContext): void {
  const state: EchoState = { channels: new Map(), ops: new Map(), joining: new Set() };
  socket.onAny((event: unknown, ...args: unknown[]) => {
    void dispatch(socket, ctx, state, String(event).slice(0, 100), args[0]);
  });
  socket.on('disconnect', () => {
    for (const channel of new Set([...state.channels.keys(), ...state.ops.keys()]))
      inOrder(state, channel, ctx, () => unsubscribe(state, ctx, channel));
  });
}

async function dispatch(socket: Socket, ctx: EchoContext, state: EchoState, event: string, payload: unknown) {
  const channel = channelOf(payload);
  try {
    ctx.limit.take(state);
  } catch (err) {
    refuse(socket, event, channel, err);
    return;
  }
  try {
    switch (event) {
      case 'subscribe':
        return onSubscribe(socket, ctx, state, payload);
      case 'unsubscribe':
        if (channel === undefined) throw new RoomcastError('bad_request', 'unsubscribe needs { channel }');
        return inOrder(state, channel, ctx, () => unsubscribe(state, ctx, channel));
      case 'client event':
        return await whisper(ctx, state, payload);
      default:
        throw new RoomcastError('bad_request', `unknown event "${event}"`);
    }
  } catch (err) {
    refuse(socket, event, channel, err);
  }
}

function onSubscribe(socket: Socket, ctx: EchoContext, state: EchoState, payload: unknown): void {
  const channel = channelOf(payload);
  if (channel === undefined) throw new RoomcastError('bad_request', 'subscribe needs { channel }');
  if (!isEchoChannel(channel, ctx.config.limits.roomNameLength)) {
    socket.emit('subscription_error', channel.slice(0, 200), 400);
    return;
  }
  const auth = (payload as { auth?: unknown }).auth;
  const headers = (auth as { headers?: unknown } | undefined)?.headers;
  inOrder(state, channel, ctx, async () => {
    try {
      await subscribe(socket, ctx, state, channel, isRecord(headers) ? headers : {});
    } catch (err) {
      socket.emit('subscription_error', channel, statusOf(err));
    }
  });
}

async function subscribe(
  socket: Socket,
  ctx: EchoContext,
  state: EchoState,
  channel: string,
  headers: Record<string, unknown>,
): Promise<void> {
  if (state.channels.has(channel)) {
    // Idempotent: a repeated subscribe (Echo re-subscribes on reconnect) changes nothing.
    if (channelKind(channel) === 'presence') await sendMembers(socket, ctx, channel);
    return;
  }
  if (state.channels.size + state.joining.size >= ctx.config.limits.roomsPerConnection)
    throw new RoomcastError('too_many_rooms', `at most ${ctx.config.limits.roomsPerConnection} channels`);
  state.joining.add(channel);
  try {
    await join(socket, ctx, state, channel, headers);
  } finally {
    state.joining.delete(channel);
  }
}

async function join(
  socket: Socket,
  ctx: EchoContext,
  state: EchoState,
  channel: string,
  headers: Record<string, unknown>,
): Promise<void> {
  const kind = channelKind(channel);
  let member = { sub: `echo:${socket.id}`, info: null as unknown };
  if (kind !== 'public') {
    const result = await ctx.authorize({
      channel,
      socketId: socket.id,
      headers,
      cookie: socket.handshake.headers.cookie,
    });
    if (!result.ok) {
      socket.emit('subscription_error', channel, result.status);
      return;
    }
    if (kind === 'presence') {
      const fromApp = memberFromAuthReply(result.reply);
      if (!fromApp) {
        ctx.log.warn({ channel }, 'echo auth reply for a presence channel has no usable channel_data');
        socket.emit('subscription_error', channel, 502);
        return;
      }
      member = fromApp;
    }
  }
  if (socket.disconnected) return;
  const client: Client = { id: socket.id, sub: member.sub, info: member.info, rights: ALL, rooms: new Set() };
  await ctx.rooms.join(client, channel);
  state.channels.set(channel, client);
  if (kind === 'presence') await sendMembers(socket, ctx, channel);
}

async function sendMembers(socket: Socket, ctx: EchoContext, channel: string): Promise<void> {
  const members = await ctx.rooms.presence(null, channel);
  socket.emit('presence:subscribed', channel, members.map(toEchoMember));
}

async function unsubscribe(state: EchoState, ctx: EchoContext, channel: string): Promise<void> {
  const client = state.channels.get(channel);
  if (!client) return; // never joined (refused, or already left): nothing to do
  state.channels.delete(channel);
  await ctx.rooms.leaveAll(client);
}

/** A whisper: `client-*` events on a private or presence channel this socket is in, to the others. */
async function whisper(ctx: EchoContext, state: EchoState, payload: unknown): Promise<void> {
  if (!isRecord(payload) || typeof payload.channel !== 'string' || typeof payload.event !== 'string')
    throw new RoomcastError('bad_request', 'client event needs { channel, event, data }');
  const { channel, event } = payload;
  if (!event.startsWith('client-') || event.length > MAX_EVENT_NAME)
    throw new RoomcastError('bad_request', 'a client event name starts with "client-"');
  if (channelKind(channel) === 'public')
    throw new RoomcastError('forbidden', 'client events go to private and presence channels only');
  const client = state.channels.get(channel);
  if (!client) throw new RoomcastError('not_joined', `not subscribed to "${channel.slice(0, 200)}"`);
  await ctx.rooms.publish(client, { room: channel, event, data: payload.data }, { source: 'socket' });
}

/** Runs `op` after whatever is in progress for the same channel of this socket. */
function inOrder(state: EchoState, channel: string, ctx: EchoContext, op: () => Promise<void>): void {
  const prev = state.ops.get(channel) ?? Promise.resolve();
  const next = prev
    .then(op)
    .catch((err: unknown) => ctx.log.debug({ err, channel }, 'echo channel operation failed'));
  state.ops.set(channel, next);
  void next.then(() => {
    if (state.ops.get(channel) === next) state.ops.delete(channel);
  });
}

function refuse(socket: Socket, event: string, channel: string | undefined, err: unknown): void {
  const e = asRoomcastError(err);
  if (event === 'subscribe' && channel !== undefined) {
    socket.emit('subscription_error', channel.slice(0, 200), statusOf(e));
    return;
  }
  socket.emit('roomcast:error', { code: e.code, message: e.message, event });
}

function statusOf(err: unknown): number {
  return httpStatus(asRoomcastError(err).code);
}

function channelOf(payload: unknown): string | undefined {
  return isRecord(payload) && typeof payload.channel === 'string' ? payload.channel : undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
