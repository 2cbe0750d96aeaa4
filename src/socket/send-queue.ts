import type { Logger } from '../logger.js';
import { closeConnection, namespaceClosed, namespaceOpened, type RoomcastSocket } from './connection.js';

/**
 * How long a connection closed as a slow consumer may take to flush what it was sent (the
 * `closing` last) before it is dropped with its unsent data. A client that reads slowly still gets
 * `closing { code: "slow_consumer" }`; one that does not read at all is not held (with more than
 * `sendQueueBytes` waiting) until Engine.IO's ping timeout, 45 s later by default.
 */
export const SLOW_CLOSE_GRACE_MS = 5000;

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
 * Every accepted socket, roomcast's or Laravel Echo's, comes here: it also counts as one of its
 * connection's open namespaces (`closeConnection` closes the connection with the last one). When
 * the socket disconnects, both are undone: the connection may go on with other namespaces, or open
 * this one again, and must not carry this socket's listeners (nor keep the socket) meanwhile.
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
  // Long-polling only (no closures for a WebSocket connection: bytes per idle connection count).
  let polling: { flushed: () => void; upgraded: () => void } | undefined;
  if (conn.transport.name !== 'websocket') {
    const flushed = () => {
      queued = 0;
    };
    polling = { flushed, upgraded: () => conn.off('drain', flushed) };
    conn.on('drain', polling.flushed);
    conn.once('upgrade', polling.upgraded);
  }
  const created = (packet: { data?: unknown }) => {
    if (closed) return;
    if (conn.transport.writable) queued = 0;
    queued += sizeOf(packet.data);
    if (queued <= limitBytes) return;
    closed = true;
    log.warn({ sid: socket.id, sub: socket.data.client?.sub, queued }, 'slow consumer: connection closed');
    onSlow();
    closeConnection(socket, 'slow_consumer', `more than ${limitBytes} bytes waited to be sent`);
    // The whole connection is behind, whatever else it carries: closed once what it was sent is
    // flushed, or dropped with it after the grace.
    const drop = setTimeout(() => conn.close(true), SLOW_CLOSE_GRACE_MS);
    drop.unref();
    conn.once('close', () => clearTimeout(drop));
    conn.close();
  };
  conn.on('packetCreate', created);
  namespaceOpened(conn);
  socket.once('disconnect', () => {
    namespaceClosed(conn);
    conn.off('packetCreate', created);
    if (polling) {
      conn.off('drain', polling.flushed);
      conn.off('upgrade', polling.upgraded);
    }
  });
}

function sizeOf(data: unknown): number {
  if (typeof data === 'string') return data.length;
  if (data instanceof ArrayBuffer) return data.byteLength;
  if (ArrayBuffer.isView(data)) return data.byteLength;
  return 0;
}
