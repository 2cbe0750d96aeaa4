import { Decoder, Encoder, type Packet } from 'socket.io-parser';

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
 * for any packet it cannot read (and roomcast for an oversized frame).
 *
 * @example
 * new Server(http, { parser: boundedParser(1_048_576) });
 */
export function boundedParser(maxPacketBytes: number): { Encoder: typeof Encoder; Decoder: typeof Decoder } {
  class BoundedDecoder extends Decoder {
    /** Bytes of the attachments received for the packet being reconstructed. */
    private attached = 0;

    constructor() {
      super();
      // Registered before Socket.IO's own listener (its Client listens once it has made the
      // decoder): a throw here stops the packet before it is dispatched. One function for every
      // decoder (the emitter calls it on the decoder), so a connection holds no closure of it.
      this.on('decoded', checkDecoded);
    }

    /** A packet is complete: its attachments count no longer. */
    reset(): void {
      this.attached = 0;
    }

    override add(obj: unknown): void {
      if (typeof obj !== 'string') {
        this.attached += sizeOf(obj);
        if (this.attached > maxPacketBytes)
          throw new Error(`a packet's binary attachments passed ${maxPacketBytes} bytes`);
      }
      super.add(obj);
    }
  }
  function checkDecoded(this: BoundedDecoder, packet: Packet): void {
    this.reset();
    if (packet.id !== undefined && !Number.isSafeInteger(packet.id))
      throw new Error(`ack id ${String(packet.id)} is not a safe integer`);
  }
  return { Encoder, Decoder: BoundedDecoder };
}

function sizeOf(obj: unknown): number {
  if (obj instanceof ArrayBuffer || ArrayBuffer.isView(obj)) return obj.byteLength;
  // Engine.IO 3's base64 form of a binary message over long-polling.
  const data = (obj as { data?: unknown } | null)?.data;
  return typeof data === 'string' ? data.length : 0;
}
