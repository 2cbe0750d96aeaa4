import type { Envelope } from '../protocol.js';
import { binaryParts, payloadSize } from '../rooms/payload.js';

/**
 * The most binary attachments one Socket.IO packet may carry: socket.io-parser's decoder refuses
 * more (its `maxAttachments`, 10 by default since 4.2.x, in clients and in this server alike) and
 * drops the connection with a parse error. A publish with more never gets in; a reply that
 * replays stored messages could still add up to more.
 */
export const MAX_PACKET_ATTACHMENTS = 10;

/** Bytes an envelope takes besides its `data` and the strings measured (field names, numbers). */
const ENVELOPE_OVERHEAD = 128;

/**
 * A `join` or `history` reply a Socket.IO client can decode and this node can send: its messages
 * stop before the one that would take the reply past {@link MAX_PACKET_ATTACHMENTS} binary parts,
 * or past `maxBytes` (half of `limits.sendQueueBytes`: one reply bigger than the send queue closes
 * the connection that asked for it as a slow consumer, every time it asks). The first message
 * always stays; one message never holds more parts, nor, with the default limits, more bytes. A
 * reply cut short ends before the reply's `offset`, which a client sees and asks `history` from
 * its last message for the rest (the SDK does, page by page), as after a reply cut by
 * `historyLimit`. Replies within both bounds are returned as they are.
 *
 * @example
 * ack({ ok: true, ...withinReplyLimits(await rooms.historyOf(client, room, since), 524_288) });
 */
export function withinReplyLimits<R extends { messages: Envelope[] }>(reply: R, maxBytes: number): R {
  const { messages } = reply;
  let parts = 0;
  let bytes = 0;
  for (let i = 0; i < messages.length; i++) {
    const m = messages[i]!;
    parts += binaryParts(m.data, MAX_PACKET_ATTACHMENTS + 1);
    bytes += envelopeBytes(m);
    if ((parts > MAX_PACKET_ATTACHMENTS || bytes > maxBytes) && i > 0) {
      return { ...reply, messages: messages.slice(0, i) };
    }
  }
  return reply;
}

/** About the bytes an envelope takes in a packet (binary parts by their length). */
function envelopeBytes(m: Envelope): number {
  let data: number;
  try {
    data = payloadSize(m.data);
  } catch {
    // Stored before a check that refuses it now: counted as the largest there is.
    return Number.MAX_SAFE_INTEGER;
  }
  const from = m.from ? m.from.sub.length + (JSON.stringify(m.from.info) ?? '').length : 4;
  return data + m.id.length + m.room.length + m.event.length + m.epoch.length + from + ENVELOPE_OVERHEAD;
}
