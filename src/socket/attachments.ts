import type { Envelope } from '../protocol.js';
import { binaryParts } from '../rooms/payload.js';

/**
 * The most binary attachments one Socket.IO packet may carry: socket.io-parser's decoder refuses
 * more (its `maxAttachments`, 10 by default since 4.2.x, in clients and in this server alike) and
 * drops the connection with a parse error. A publish with more never gets in; a reply that
 * replays stored messages could still add up to more.
 */
export const MAX_PACKET_ATTACHMENTS = 10;

/**
 * A `join` or `history` reply a Socket.IO client can decode: its messages stop before the one that
 * would take the reply past {@link MAX_PACKET_ATTACHMENTS} binary parts (the first message always
 * stays; one message never holds more). A reply cut short ends before the reply's `offset`, which a
 * client sees and asks `history` from its last message for the rest (the SDK does, page by page),
 * as after a reply cut by `historyLimit`. Replies without binary parts are returned as they are.
 *
 * @example
 * ack({ ok: true, ...withinAttachmentLimit(await rooms.historyOf(client, room, since)) });
 */
export function withinAttachmentLimit<R extends { messages: Envelope[] }>(reply: R): R {
  const { messages } = reply;
  let parts = 0;
  for (let i = 0; i < messages.length; i++) {
    parts += binaryParts(messages[i]!.data, MAX_PACKET_ATTACHMENTS + 1);
    if (parts > MAX_PACKET_ATTACHMENTS && i > 0) {
      return { ...reply, messages: messages.slice(0, i) };
    }
  }
  return reply;
}
