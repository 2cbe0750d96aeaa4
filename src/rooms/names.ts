import { RoomcastError } from '../errors.js';

/**
 * Room names: 1 to 200 characters of ASCII letters, digits and `_ - : . @ / =`.
 * Inside Socket.IO, a room lives under a prefix no client name can produce (`#`), so a client's
 * room never reaches a socket-id room or an internal room.
 */

const ROOM_NAME = /^[A-Za-z0-9_\-:.@/=]+$/;
export const MAX_ROOM_NAME = 200;

/** Validates a room name from outside; throws `invalid_room`. */
export function parseRoomName(value: unknown, maxLength = MAX_ROOM_NAME): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new RoomcastError('invalid_room', 'room must be a non-empty string');
  }
  if (value.length > maxLength) {
    throw new RoomcastError('invalid_room', `room name longer than ${maxLength} characters`);
  }
  if (!ROOM_NAME.test(value)) {
    throw new RoomcastError('invalid_room', 'room name may hold only letters, digits and _ - : . @ / =');
  }
  return value;
}

/**
 * Throws `bad_request` for an event name a message may not carry: one with a lone surrogate (no
 * UTF-8 form, see `payloadSize`), or one in roomcast's own space (`roomcast:…`: SSE streams name
 * their gap and closing events so, and a publisher must not send a stream's readers a fake one).
 */
export function checkEventName(event: string): void {
  if (!event.isWellFormed())
    throw new RoomcastError('bad_request', 'event is not well-formed UTF-16 (a lone surrogate)');
  if (event.startsWith('roomcast:'))
    throw new RoomcastError('bad_request', 'event names starting with "roomcast:" are reserved');
}

/**
 * The event names Socket.IO keeps for itself: its `emit` throws for them. A Laravel Echo client
 * gets each message as a Socket.IO event named after the message's event, so in a namespace that
 * serves Echo such a message could be sent to none of them (RoomPolicy.socketIoEvents).
 */
export const SOCKET_IO_RESERVED: ReadonlySet<string> = new Set([
  'connect',
  'connect_error',
  'disconnect',
  'disconnecting',
  'newListener',
  'removeListener',
]);

export function isValidRoomName(value: unknown, maxLength = MAX_ROOM_NAME): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= maxLength && ROOM_NAME.test(value);
}

/** The Socket.IO room that carries a room's messages. */
export function messageChannel(room: string): string {
  return `#${room}`;
}

/** The Socket.IO room of a room's members that may see presence events. */
export function presenceChannel(room: string): string {
  return `#p#${room}`;
}
