import { isValidRoomName } from '../rooms/names.js';
import { checkValue } from '../rooms/payload.js';

/**
 * Laravel Echo channel names as roomcast sees them. A channel name is a room name, one to one and
 * unchanged (`orders`, `private-orders.42`, `presence-chat.1` are rooms of those exact names), so
 * the HTTP API, SSE and the roomcast SDK reach the same rooms. Names outside the room grammar
 * (see src/rooms/names.ts) are refused with `subscription_error` 400.
 */

export type ChannelKind = 'public' | 'private' | 'presence';

/** The longest event name a Laravel broadcast may carry, by Redis or by the HTTP API. */
export const MAX_EVENT_NAME = 200;

/** `private-*` and `presence-*` need the app's authorization; anything else is public. Anchored. */
export function channelKind(channel: string): ChannelKind {
  if (channel.startsWith('presence-')) return 'presence';
  if (channel.startsWith('private-')) return 'private';
  return 'public';
}

export function isEchoChannel(value: string, maxLength: number): boolean {
  return isValidRoomName(value, maxLength);
}

/** A presence member as Echo and laravel-echo-server send it. */
export interface EchoMember {
  user_id: string | number;
  user_info: unknown;
}

/**
 * roomcast keeps a presence member as `{ sub, info }`: `sub` is the app's `user_id` as a string,
 * `info` its `user_info`. Back on the wire, a `sub` that is a whole number goes out as a number,
 * as Laravel sent it.
 */
export function toEchoMember(member: { sub: string; info: unknown }): EchoMember {
  const n = Number(member.sub);
  const numeric = /^(0|[1-9]\d{0,15})$/.test(member.sub) && Number.isSafeInteger(n);
  return { user_id: numeric ? n : member.sub, user_info: member.info ?? null };
}

/**
 * The member in an auth reply's `channel_data` (an object, or a JSON string as Pusher sends it),
 * or null when there is none usable.
 */
export function memberFromAuthReply(reply: unknown): { sub: string; info: unknown } | null {
  if (!reply || typeof reply !== 'object') return null;
  let data = (reply as { channel_data?: unknown }).channel_data;
  if (typeof data === 'string') {
    try {
      data = JSON.parse(data);
    } catch {
      return null;
    }
  }
  if (!data || typeof data !== 'object') return null;
  const { user_id: id, user_info: info } = data as { user_id?: unknown; user_info?: unknown };
  // The info goes into presence events and replies as the member's: what `data` may not hold
  // (a binary placeholder look-alike, lone surrogates, deep nesting), it may not.
  try {
    checkValue(info);
  } catch {
    return null;
  }
  if (typeof id === 'number' && Number.isFinite(id)) return { sub: String(id), info: info ?? null };
  if (typeof id === 'string' && id.length > 0 && id.length <= 200 && id.isWellFormed())
    return { sub: id, info: info ?? null };
  return null;
}
