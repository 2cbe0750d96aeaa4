import { RoomcastError } from '../errors.js';

/** How deep a payload may nest (objects and arrays); deeper is `bad_request`, before any JSON work. */
export const MAX_PAYLOAD_DEPTH = 100;

/**
 * The size of a published payload, as the `payloadBytes` limit counts it: the bytes of its JSON,
 * except that binary parts (Socket.IO carries Buffers and typed arrays as binary attachments) count
 * their own length, not the three to four times longer JSON of their numbers.
 *
 * @example
 * payloadSize({ text: 'hi' }); // 13
 * payloadSize({ file: Buffer.alloc(1000) }); // 1010 (1000 + `{"file":0}`)
 *
 * Throws `bad_request` for a payload nested deeper than `MAX_PAYLOAD_DEPTH`: a small payload
 * nested some thousands deep would otherwise overflow the stack in every JSON.stringify after it
 * (history, the broadcast, SSE). Throws `bad_request` too for an object that looks like a
 * Socket.IO binary placeholder (`{ "_placeholder": true, "num": n }`): sent back in a packet that
 * carries real binary (a history or join reply), the client's decoder would swap in another
 * message's bytes or fail the whole packet.
 */
export function payloadSize(data: unknown): number {
  return inspectPayload(data).size;
}

/** What the publish path needs to know of a payload, from one walk: its size and whether it holds binary. */
export interface PayloadInfo {
  size: number;
  binary: boolean;
  /** The payload's JSON, when it holds no binary (history reuses it instead of serializing again). */
  json?: string;
}

/** `payloadSize`, and whether the payload holds binary parts (checked the same way). */
export function inspectPayload(data: unknown): PayloadInfo {
  // Most payloads hold no binary: plain JSON.stringify keeps V8's fast path, which a replacer
  // function turns off (about twice the cost, on every publish).
  if (!scan(data, MAX_PAYLOAD_DEPTH, true)) {
    const json = JSON.stringify(data) ?? 'null';
    return { size: Buffer.byteLength(json), binary: false, json };
  }
  let binary = 0;
  const json = JSON.stringify(data, function (this: Record<string, unknown>, key: string, value: unknown) {
    // `this[key]` is the value before its toJSON() ran: a Buffer, not `{ type: 'Buffer', data }`.
    const raw = this[key];
    if (raw instanceof ArrayBuffer || ArrayBuffer.isView(raw)) {
      binary += raw.byteLength;
      return 0;
    }
    return value;
  });
  return { size: Buffer.byteLength(json ?? 'null') + binary, binary: true };
}

/** Whether any value inside `data` is an ArrayBuffer or a view of one. */
export function holdsBinary(data: unknown): boolean {
  return scan(data, Number.POSITIVE_INFINITY, false);
}

/**
 * Walks `data` (iteratively: no recursion to overflow) for binary parts; throws `bad_request` past
 * `maxDepth` levels of objects and arrays, and (`strict`) for a binary placeholder look-alike.
 */
function scan(data: unknown, maxDepth: number, strict: boolean): boolean {
  const values: unknown[] = [data];
  const depths: number[] = [0];
  let binary = false;
  while (values.length > 0) {
    const value = values.pop();
    const depth = depths.pop() as number;
    if (typeof value !== 'object' || value === null) continue;
    if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
      binary = true;
      continue;
    }
    if (depth >= maxDepth)
      throw new RoomcastError('bad_request', `payload nests deeper than ${maxDepth} levels`);
    if (Array.isArray(value)) {
      for (const item of value) {
        values.push(item);
        depths.push(depth + 1);
      }
    } else {
      if (
        strict &&
        (value as { _placeholder?: unknown })._placeholder === true &&
        Object.hasOwn(value, '_placeholder')
      )
        throw new RoomcastError(
          'bad_request',
          'data must not hold a Socket.IO binary placeholder ("_placeholder": true)',
        );
      for (const key of Object.keys(value)) {
        values.push((value as Record<string, unknown>)[key]);
        depths.push(depth + 1);
      }
    }
  }
  return binary;
}
