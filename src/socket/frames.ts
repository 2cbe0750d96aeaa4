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
 * the session, so a client could wait for an ack forever. Through Engine.IO's public API (its
 * `connection` event and `io.engine.use` middleware) this closes the session of a POST that was
 * answered 413: the client sees its connection drop, as over WebSocket.
 *
 * @example
 * closeOversizedPolling(io);
 */
export function closeOversizedPolling(io: Server): void {
  const open = new Map<string, EngineConnection>();
  io.engine.on('connection', (conn: EngineConnection) => {
    // Only sessions on long-polling can post an oversized frame (not kept for WebSocket ones).
    if (conn.transport.name !== 'polling') return;
    open.set(conn.id, conn);
    const forget = () => open.delete(conn.id);
    conn.once('close', forget);
    conn.once('upgrade', forget);
  });
  io.engine.use(
    (
      req: { method?: string; url?: string },
      res: NodeJS.EventEmitter & { statusCode: number },
      next: () => void,
    ) => {
      if (req.method === 'POST') {
        const sid = new URL(req.url ?? '/', 'http://localhost').searchParams.get('sid');
        res.once('finish', () => {
          if (res.statusCode === 413 && sid) open.get(sid)?.close();
        });
      }
      next();
    },
  );
}
