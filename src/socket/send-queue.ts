import type { Logger } from '../logger.js';
import { closeConnection, type RoomcastSocket } from './connection.js';

/**
 * Bounds what a node holds for one client: the bytes of the packets created for a connection since
 * it last had nothing waiting (Engine.IO's public `packetCreate` event and `transport.writable`).
 * A client that stops reading while its rooms are busy passes `limitBytes` and is closed with
 * `closing { code: "slow_consumer" }`, so one stalled reader never grows the node.
 *
 * A WebSocket transport is writable again once its last send reached the kernel, so a packet
 * created while it is writable finds nothing of this client held here: the count starts again.
 * Counting costs one listener call per packet; a `drain` listener as well (Engine.IO's flush, one
 * per delivery) cost a few percent of a fan-out's CPU. A long-polling transport is writable only
 * while a GET waits, which a busy poller's GETs rarely do (each finds packets and takes them at
 * once), so until it upgrades its flushes (`drain`) start the count again too.
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
  if (conn.transport.name !== 'websocket') {
    const flushed = () => {
      queued = 0;
    };
    conn.on('drain', flushed);
    conn.once('upgrade', () => conn.off('drain', flushed));
  }
  conn.on('packetCreate', (packet: { data?: unknown }) => {
    if (closed) return;
    if (conn.transport.writable) queued = 0;
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
