import type { Logger } from '../logger.js';
import { closeConnection, type RoomcastSocket } from './connection.js';

/**
 * Bounds what a node holds for one client: the bytes of the packets queued for a connection since
 * its transport last drained (Engine.IO's public `packetCreate` and `drain` events). A client
 * that stops reading while its rooms are busy passes `limitBytes` and is closed with
 * `closing { code: "slow_consumer" }`, so one stalled reader never grows the node.
 *
 * @example
 * nsp.on('connection', (socket) => limitSendQueue(socket, 1_048_576, log, onSlow));
 */
export function limitSendQueue(
  socket: RoomcastSocket,
  limitBytes: number,
  log: Logger,
  onSlow: () => void,
): void {
  let queued = 0;
  let closed = false;
  const conn = socket.conn;
  conn.on('drain', () => {
    queued = 0;
  });
  conn.on('packetCreate', (packet: { data?: unknown }) => {
    if (closed) return;
    queued += sizeOf(packet.data);
    if (queued <= limitBytes) return;
    closed = true;
    log.warn({ sid: socket.id, sub: socket.data.client?.sub, queued }, 'slow consumer: connection closed');
    onSlow();
    closeConnection(socket, 'slow_consumer', `more than ${limitBytes} bytes waited to be sent`);
    // It does not read: do not wait for it to take the close either.
    socket.conn.close();
  });
}

function sizeOf(data: unknown): number {
  if (typeof data === 'string') return data.length;
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}
