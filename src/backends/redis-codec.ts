import { Encoder } from '@msgpack/msgpack';
import { decode } from 'notepack.io';
import type { Envelope, PresenceEvent } from '../protocol.js';
import { type Draft, toEnvelope } from '../rooms/engine.js';
import { MAX_PAYLOAD_DEPTH } from '../rooms/payload.js';

/**
 * How messages are laid out in Redis: binary-safe (MessagePack, as Socket.IO's Redis adapters use),
 * so a payload's binary parts come back from history and from other nodes as bytes, exactly as on
 * one node. The publish script writes the parts it knows (epoch, offset) as a short text header in
 * front of the packed draft, so no Lua code has to pack anything.
 *
 * - history item: `<offset>|<ts>|<packed draft>`
 * - room channel, a message: `m|<epoch>|<offset>|<except>|<packed draft>`
 * - room channel, a presence event: `p|<except>|<packed event>`
 *
 * `except` is the connection that must not get it (a publisher without echo), or empty.
 *
 * Packed by @msgpack/msgpack, read by notepack.io (the MessagePack of Socket.IO's Redis adapter).
 * notepack's encoder writes every whole number as an integer, and one past 64 bits (1e20, 6.02e23,
 * 1e300) comes back as another number; @msgpack/msgpack writes a number that is not a safe integer
 * as a float64, which reads back exactly. notepack's decoder gives binary parts back as Buffers,
 * which Socket.IO sends as binary and `toJSON` serializes as the HTTP API's history does on one
 * node. Both write and read standard MessagePack only (no extension types: a draft is JSON values
 * and bytes), so nodes of either kind read each other's messages.
 */

/** What arrives on a room channel. */
export type ChannelItem =
  | { kind: 'message'; envelope: Envelope; except: string | undefined }
  | { kind: 'presence'; event: PresenceEvent; except: string | undefined };

const BAR = 0x7c;

// One encoder, its buffer reused (JavaScript runs one encode at a time); a field left undefined is
// left out, as JSON leaves it out. Its depth limit (100 by default) is above what the payload
// check lets through (`data` and a token's `info` nest up to MAX_PAYLOAD_DEPTH levels), counting
// the levels of the draft and of a presence event around them.
const encoder = new Encoder({ ignoreUndefined: true, maxDepth: MAX_PAYLOAD_DEPTH + 8 });

/** MessagePack of `value`, copied out of the encoder's shared buffer. */
function encode(value: unknown): Buffer {
  return Buffer.from(encoder.encodeSharedRef(value));
}

export function packDraft(draft: Draft): Buffer {
  return encode(draft);
}

export function packPresence(event: PresenceEvent, except: string | undefined): Buffer {
  return Buffer.concat([Buffer.from(`p|${except ?? ''}|`, 'latin1'), encode(event)]);
}

/** A history item back into an envelope. */
export function unpackHistoryItem(item: Buffer, epoch: string): Envelope {
  const a = item.indexOf(BAR);
  const b = item.indexOf(BAR, a + 1);
  const draft = decode(item.subarray(b + 1)) as Draft;
  return toEnvelope(draft, Number(item.toString('latin1', 0, a)), epoch);
}

/** The offset and ts of a history item, without unpacking its draft. */
export function historyItemHead(item: Buffer): { offset: number; ts: number } {
  const a = item.indexOf(BAR);
  const b = item.indexOf(BAR, a + 1);
  return { offset: Number(item.toString('latin1', 0, a)), ts: Number(item.toString('latin1', a + 1, b)) };
}

/** A room channel's payload; null when it is not one of ours (logged by the caller). */
export function unpackChannelItem(payload: Buffer): ChannelItem | null {
  try {
    return unpack(payload);
  } catch {
    // Anyone with access to Redis can publish on a room channel: garbage is dropped, never thrown.
    return null;
  }
}

function unpack(payload: Buffer): ChannelItem | null {
  const kind = payload[0];
  if (kind === 0x6d /* m */) {
    const a = payload.indexOf(BAR, 2);
    const b = payload.indexOf(BAR, a + 1);
    const c = payload.indexOf(BAR, b + 1);
    if (a < 0 || b < 0 || c < 0) return null;
    // An offset that is not a whole number from 1 would break the delivery marks (NaN never
    // compares): such a message was not written by roomcast's script.
    const offset = Number(payload.toString('latin1', a + 1, b));
    if (!Number.isSafeInteger(offset) || offset < 1) return null;
    const draft = decode(payload.subarray(c + 1)) as Draft;
    if (typeof draft !== 'object' || draft === null || typeof draft.room !== 'string') return null;
    const envelope = toEnvelope(draft, offset, payload.toString('latin1', 2, a));
    return { kind: 'message', envelope, except: payload.toString('latin1', b + 1, c) || undefined };
  }
  if (kind === 0x70 /* p */) {
    const a = payload.indexOf(BAR, 2);
    if (a < 0) return null;
    const event = decode(payload.subarray(a + 1)) as PresenceEvent;
    if (typeof event !== 'object' || event === null || typeof event.room !== 'string') return null;
    return { kind: 'presence', event, except: payload.toString('latin1', 2, a) || undefined };
  }
  return null;
}
