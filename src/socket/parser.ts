import { Decoder, Encoder } from 'socket.io-parser';

/**
 * Socket.IO's own parser (socket.io-parser), through Socket.IO's documented `parser` option, with
 * two bounds its decoder lacks:
 *
 * - the binary attachments of one packet may add up to `maxPacketBytes` (the frame limit), as one
 *   frame may: the decoder keeps a packet's attachments until the last one arrives, so a client
 *   that announced ten and sent nine of a megabyte each held 9 MB for the connection's lifetime;
 * - an ack id must be a safe integer: a larger one (`1e21`, 400 digits) was taken, and the ack went
 *   back under a number no client can match to its request.
 *
 * Either throws from the decoder, which Socket.IO answers by closing that connection, as it does
 * for any packet it cannot read (and roomcast for an oversized frame). Both are checked in `add`,
 * before the decoder reads the frame: a connection keeps one number of this, and no listener.
 *
 * @example
 * new Server(http, { parser: boundedParser(1_048_576) });
 */
export function boundedParser(maxPacketBytes: number): { Encoder: typeof Encoder; Decoder: typeof Decoder } {
  class BoundedDecoder extends Decoder {
    /** Bytes of the attachments received since the last text frame (a packet's header). */
    private attached = 0;

    override add(obj: unknown): void {
      if (typeof obj === 'string') {
        this.attached = 0;
        checkAckId(obj);
      } else {
        this.attached += sizeOf(obj);
        if (this.attached > maxPacketBytes)
          throw new Error(`a packet's binary attachments passed ${maxPacketBytes} bytes`);
      }
      super.add(obj);
    }
  }
  return { Encoder, Decoder: BoundedDecoder };
}

/** The most characters a safe integer has: 16 (9007199254740991). */
const SAFE_DIGITS = 16;

/**
 * Throws for a packet whose ack id is not a safe integer. Finds the id as socket.io-parser 4.2's
 * `decodeString` does: after the type, the attachment count and its `-` (binary packets), and the
 * namespace up to its `,`, the run of characters `c` with `Number(c) == c`: digits, and whitespace
 * too (which `Number` reads as 0), so `2 1 2["e"]` has the id `Number(" 1 2")`, NaN.
 */
function checkAckId(frame: string): void {
  let i = 1;
  const type = frame.charCodeAt(0);
  // '5' and '6': BINARY_EVENT and BINARY_ACK.
  if (type === 53 || type === 54) {
    const dash = frame.indexOf('-', i);
    if (dash < 0) return;
    i = dash + 1;
  }
  if (frame.charCodeAt(i) === 47 /* / */) {
    const comma = frame.indexOf(',', i);
    if (comma < 0) return;
    i = comma + 1;
  }
  let end = i;
  let digitsOnly = true;
  while (end < frame.length && !Number.isNaN(Number(frame[end]))) {
    const code = frame.charCodeAt(end);
    if (code < 48 || code > 57) digitsOnly = false;
    end++;
  }
  if (end === i || (digitsOnly && end - i < SAFE_DIGITS)) return;
  if (!Number.isSafeInteger(Number(frame.slice(i, end))))
    throw new Error(`ack id ${JSON.stringify(frame.slice(i, Math.min(end, i + 24)))} is not a safe integer`);
}

function sizeOf(obj: unknown): number {
  if (obj instanceof ArrayBuffer || ArrayBuffer.isView(obj)) return obj.byteLength;
  // Engine.IO 3's base64 form of a binary message over long-polling.
  const data = (obj as { data?: unknown } | null)?.data;
  return typeof data === 'string' ? data.length : 0;
}
