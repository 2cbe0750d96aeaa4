import type { StreamPosition } from '../protocol.js';
import { isValidRoomName } from '../rooms/names.js';

/**
 * The `id` of an SSE event: where EVERY room of the stream stands after this event, so one
 * `Last-Event-ID` resumes all of them (each room joins with `since` its own position).
 *
 * Format: `room;epoch;offset` per room, joined with `,`, e.g. `chat:1;Xk2a9Qb1;42,news;p0Lz7wEr;7`.
 * `;` and `,` cannot occur in a room name, and the epoch is URI-encoded (a no-op for the
 * base64url epochs roomcast makes), so the id needs no quoting and stays short: a stream of 32
 * rooms with 20-character names has ids of about 1 KB. Clients treat it as opaque.
 *
 * This is one room's part; a stream keeps one per room and joins them with `,`.
 */
export function encodePosition(room: string, pos: StreamPosition): string {
  return `${room};${encodeURIComponent(pos.epoch)};${pos.offset}`;
}

/**
 * Reads a `Last-Event-ID`. Parts that do not parse are skipped (those rooms start fresh), so a
 * garbled or foreign id never fails the reconnect.
 */
export function decodeEventId(id: string | undefined): Map<string, StreamPosition> {
  const out = new Map<string, StreamPosition>();
  if (!id) return out;
  for (const part of id.split(',')) {
    const [room, epoch, offset] = part.split(';');
    if (!isValidRoomName(room) || !epoch || !offset || !/^\d{1,15}$/.test(offset)) continue;
    let decoded: string;
    try {
      decoded = decodeURIComponent(epoch);
    } catch {
      continue;
    }
    if (decoded.length > 0 && decoded.length <= 64) out.set(room, { epoch: decoded, offset: Number(offset) });
  }
  return out;
}
