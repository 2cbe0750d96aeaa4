import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Serves as plain HTTP a request that asks to upgrade anywhere but Engine.IO's path: the
 * `Upgrade: h2c` that curl's `--http2` and Java's `HttpClient` send on cleartext, or a WebSocket
 * to a wrong path. Node hands every request with `Upgrade` and `Connection: upgrade` to the
 * server's `upgrade` listeners, not to `request`; Engine.IO listens there for its own path and,
 * unless `destroyUpgrade: false`, ends the others' sockets a second later without a reply, so a
 * server-API call or a health check from such a client hung. HTTP lets a server ignore an upgrade
 * it does not take (RFC 9110, section 7.8): the request's head is written again without it, put
 * back in front of what the socket has not read yet (its body, later requests), and the socket is
 * handed to the server as a new connection (Node documents emitting `connection` with any
 * Duplex). The server's parser then reads an ordinary request, fastify answers it, and the
 * connection stays open for the next.
 *
 * @example
 * const io = new Server(http, { destroyUpgrade: false });
 * serveStrayUpgrades(http, `${io.path()}/`);
 */
export function serveStrayUpgrades(server: Server, enginePath: string): void {
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Engine.IO's own listener takes these (its check: the URL starts with the path).
    if (req.url?.startsWith(enginePath)) return;
    socket.unshift(Buffer.concat([Buffer.from(headWithoutUpgrade(req), 'latin1'), head]));
    server.emit('connection', socket);
  });
}

/** Hop-by-hop headers of an upgrade, dropped with it. */
const UPGRADE_HEADERS = new Set(['upgrade', 'http2-settings']);

/**
 * The request line and headers of `req` as received (names as sent, repeats kept), without
 * `Upgrade` and `HTTP2-Settings` and without those tokens in `Connection` (a `Connection` left
 * empty is dropped). Node read the head as latin1, so it is written back as latin1.
 */
function headWithoutUpgrade(req: IncomingMessage): string {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    let value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    if (UPGRADE_HEADERS.has(lower)) continue;
    if (lower === 'connection') {
      value = value
        .split(',')
        .map((token) => token.trim())
        .filter((token) => token && !UPGRADE_HEADERS.has(token.toLowerCase()))
        .join(', ');
      if (!value) continue;
    }
    head += `${name}: ${value}\r\n`;
  }
  return `${head}\r\n`;
}
