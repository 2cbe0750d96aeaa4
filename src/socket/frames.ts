import type { Server as HttpServer, IncomingMessage, ServerResponse } from 'node:http';
import type { Server } from 'socket.io';

interface EngineConnection {
  id: string;
  transport: { name: string };
  close(): void;
  once(event: 'close' | 'upgrade', listener: () => void): unknown;
}

/**
 * A frame over the frame limit ends that connection on every transport. Over WebSocket Engine.IO
 * closes it itself; over HTTP long-polling it only answers the oversized POST with 413 and keeps
 * the session, so a client could wait for an ack forever. Through public APIs (Engine.IO's
 * `connection` event, the HTTP server's `request` event) this closes the session of a POST that was
 * answered 413: the client sees its connection drop, as over WebSocket. Not an Engine.IO
 * middleware: those run on every upgrade and poll, in a chain of promises.
 *
 * @example
 * closeOversizedPolling(io, httpServer);
 */
export function closeOversizedPolling(io: Server, server: HttpServer): void {
  const open = new Map<string, EngineConnection>();
  io.engine.on('connection', (conn: EngineConnection) => {
    // Only sessions on long-polling can post an oversized frame (not kept for WebSocket ones).
    if (conn.transport.name !== 'polling') return;
    open.set(conn.id, conn);
    const forget = () => open.delete(conn.id);
    conn.once('close', forget);
    conn.once('upgrade', forget);
  });
  const prefix = `${io.path()}/`;
  // Every listener of `request` sees every request (Engine.IO's own answers this one): this only
  // watches the reply.
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'POST' || open.size === 0 || !req.url?.startsWith(prefix)) return;
    const sid = new URL(req.url, 'http://localhost').searchParams.get('sid');
    if (!sid) return;
    res.once('finish', () => {
      if (res.statusCode === 413) open.get(sid)?.close();
    });
  });
}
