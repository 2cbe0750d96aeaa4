import { RoomcastError } from '../errors.js';

/** How deep a payload may nest (objects and arrays); deeper is `bad_request`, before any JSON work. */
export const MAX_PAYLOAD_DEPTH = 100;

/**
 * The size of a published payload, as the `payloadBytes` limit counts it: the bytes of its JSON,
 * except that binary parts (Socket.IO carries Buffers and typed arrays as binary attachments) count
 * their own length, not the three to four times longer JSON of their numbers. So a payload of
 * exactly `payloadBytes` bytes of binary is within the limit.
 *
 * @example
 * payloadSize({ text: 'hi' }); // 13
 * payloadSize({ file: Buffer.alloc(1000) }); // 1009 (1000 + `{"file":}`)
 * payloadSize(Buffer.alloc(65536)); // 65536
 *
 * Throws `bad_request` for a `"__proto__"` key anywhere (it is not kept as data by every reader:
 * MessagePack in cluster mode drops it and sets the object's prototype).
 *
 * Throws `bad_request` for a number that is not finite (`Infinity`, `NaN`; JSON's `1e400` reads as
 * `Infinity`): JSON has no such numbers, and every serialization would turn it into `null`.
 *
 * Throws `bad_request` for a string (or a field name) that is not well-formed UTF-16 (a lone
 * surrogate): it has no UTF-8 form, so Redis (MessagePack) would store another string than the one
 * acknowledged, and a JSON reader may refuse it.
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
  if (!check(data, 0)) {
    const json = JSON.stringify(data) ?? 'null';
    return { size: Buffer.byteLength(json), binary: false, json };
  }
  let binary = 0;
  let parts = 0;
  const json = JSON.stringify(data, function (this: Record<string, unknown>, key: string, value: unknown) {
    // `this[key]` is the value before its toJSON() ran: a Buffer, not `{ type: 'Buffer', data }`.
    const raw = this[key];
    if (raw instanceof ArrayBuffer || ArrayBuffer.isView(raw)) {
      binary += raw.byteLength;
      parts++;
      return 0;
    }
    return value;
  });
  // Each part stood in the JSON as `0`, which is not part of the payload's size.
  return { size: Buffer.byteLength(json ?? 'null') - parts + binary, binary: true };
}

/**
 * Whether `value` holds binary parts; throws `bad_request` past `MAX_PAYLOAD_DEPTH` levels of
 * objects and arrays, and for a binary placeholder look-alike. Recursive (the depth bound keeps
 * the stack small) and allocation-free: it runs on every publish.
 */
function check(value: unknown, depth: number): boolean {
  if (typeof value === 'string') {
    if (!value.isWellFormed()) throw notWellFormed();
    return false;
  }
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw notFinite();
    return false;
  }
  if (typeof value !== 'object' || value === null) return false;
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return true;
  if (depth >= MAX_PAYLOAD_DEPTH)
    throw new RoomcastError('bad_request', `payload nests deeper than ${MAX_PAYLOAD_DEPTH} levels`);
  let binary = false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (check(value[i], depth + 1)) binary = true;
    return binary;
  }
  const record = value as Record<string, unknown>;
  if (record._placeholder === true && Object.hasOwn(record, '_placeholder'))
    throw new RoomcastError(
      'bad_request',
      'data must not hold a Socket.IO binary placeholder ("_placeholder": true)',
    );
  for (const key in record) {
    if (!Object.hasOwn(record, key)) continue;
    if (!key.isWellFormed()) throw notWellFormed();
    if (key === '__proto__') throw protoKey();
    if (check(record[key], depth + 1)) binary = true;
  }
  return binary;
}

function protoKey(): RoomcastError {
  return new RoomcastError(
    'bad_request',
    'data holds a "__proto__" key: a reader that rebuilds the object (MessagePack in cluster mode, many JSON decoders) sets its prototype instead of keeping the key',
  );
}

function notFinite(): RoomcastError {
  return new RoomcastError(
    'bad_request',
    'data holds a number JSON cannot carry (Infinity or NaN; 1e400 reads as Infinity): it would be stored and sent as null',
  );
}

function notWellFormed(): RoomcastError {
  return new RoomcastError(
    'bad_request',
    'data holds a string that is not well-formed UTF-16 (a lone surrogate)',
  );
}

/**
 * Throws `bad_request` for what `data` may not hold (see `payloadSize`): deeper nesting than
 * `MAX_PAYLOAD_DEPTH`, a binary placeholder look-alike, a string that is not well-formed UTF-16.
 * For values other than `data` that go into envelopes and replies (a token's `info`).
 */
export function checkValue(value: unknown): void {
  check(value, 0);
}

/** Whether any value inside `data` is an ArrayBuffer or a view of one. */
export function holdsBinary(data: unknown): boolean {
  return binaryParts(data, 1) > 0;
}

/**
 * How many binary parts (ArrayBuffers and views of one: Socket.IO's attachments) `data` holds,
 * counting no further than `enough`. Iterative: `data` may nest without bound.
 */
export function binaryParts(data: unknown, enough = Number.POSITIVE_INFINITY): number {
  let parts = 0;
  const values: unknown[] = [data];
  while (values.length > 0) {
    const value = values.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
      if (++parts >= enough) return parts;
      continue;
    }
    if (Array.isArray(value)) for (const item of value) values.push(item);
    else for (const key of Object.keys(value)) values.push((value as Record<string, unknown>)[key]);
  }
  return parts;
}
