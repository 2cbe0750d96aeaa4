/**
 * `roomcast/client`: the SDK for browsers and Node. It imports nothing of the server: only the
 * wire types of `protocol.ts` and socket.io-client.
 *
 * @example
 * import { createClient } from 'roomcast/client';
 * const client = createClient({ url: 'http://localhost:3000', token });
 * const room = client.join('chat:lobby');
 * room.on('msg', (data, meta) => console.log(meta.offset, data));
 */
export type { Envelope, Member, Publisher, StreamPosition } from '../protocol.js';
export type { RoomcastSocket } from './ack.js';
export { createClient, RoomcastClient } from './client.js';
export { ClientError, type ClientErrorCode, type Result } from './errors.js';
export type { PublishOptions } from './publish.js';
export { Room } from './room.js';
export type { MessageMap } from './room-host.js';
export type { UnrecoveredReason } from './stream.js';
export type { GetToken } from './token.js';
export type {
  ClientEvents,
  ClientOptions,
  ConnectionState,
  JoinedEvent,
  JoinInfo,
  MessageHandler,
  MessageMeta,
  PresenceChange,
  UnrecoveredEvent,
} from './types.js';
