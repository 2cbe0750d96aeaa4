import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/** The reply to an upgrade whose head Node may not have kept whole (see below). */
const TOO_MANY_HEADERS_BODY = JSON.stringify({
  ok: false,
  error: { code: 'bad_request', message: 'too many headers in a request that asks to upgrade' },
});
const TOO_MANY_HEADERS =
  'HTTP/1.1 431 Request Header Fields Too Large\r\nConnection: close\r\nContent-Type: application/json\r\n' +
  `Content-Length: ${Buffer.byteLength(TOO_MANY_HEADERS_BODY)}\r\n\r\n${TOO_MANY_HEADERS_BODY}`;

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
 * Two cases are kept safe:
 * - replies still owed on the connection (requests pipelined before this one) are written first:
 *   the new connection waits until they have closed, since its replies would queue behind them
 *   and never be written;
 * - a head with as many headers as Node keeps (about 1,000 by default) is refused with 431 and
 *   the connection closed: Node read the request's framing from headers it may not have kept,
 *   and a head written without them would read its body as another request.
 *
 * @example
 * const io = new Server(http, { destroyUpgrade: false });
 * serveStrayUpgrades(http, `${io.path()}/`);
 */
export function serveStrayUpgrades(server: Server, enginePath: string): void {
  /** Replies not yet closed, per connection; a connection with none has no entry. */
  const owed = new WeakMap<Duplex, number>();
  /** The re-feed of a connection that waits for its owed replies. */
  const waiting = new WeakMap<Duplex, () => void>();
  function closed(this: ServerResponse): void {
    const socket = this.req.socket;
    const left = (owed.get(socket) ?? 1) - 1;
    if (left > 0) return void owed.set(socket, left);
    owed.delete(socket);
    const refeed = waiting.get(socket);
    if (!refeed) return;
    waiting.delete(socket);
    refeed();
  }
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    owed.set(req.socket, (owed.get(req.socket) ?? 0) + 1);
    res.on('close', closed);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Engine.IO's own listener takes these (its check: the URL starts with the path).
    if (req.url?.startsWith(enginePath)) return;
    const refeed = () => {
      if (socket.destroyed) return;
      if (mayHaveDropped(server, req)) return void socket.end(TOO_MANY_HEADERS);
      socket.unshift(Buffer.concat([Buffer.from(headWithoutUpgrade(req), 'latin1'), head]));
      server.emit('connection', socket);
    };
    if (owed.has(socket)) waiting.set(socket, refeed);
    else refeed();
  });
}

/**
 * Whether Node may have dropped headers of `req`: it stops keeping them once it holds as many
 * name and value entries as the server's limit (`maxHeadersCount` × 2; unset, 2000 entries, about
 * 1,000 headers; 0 keeps all), in steps of 32 headers.
 */
function mayHaveDropped(server: Server, req: IncomingMessage): boolean {
  const entries = typeof server.maxHeadersCount === 'number' ? server.maxHeadersCount * 2 : 2000;
  return entries > 0 && req.rawHeaders.length >= entries;
}

/** Hop-by-hop headers of an upgrade, dropped with it. */
const UPGRADE_HEADERS = new Set(['upgrade', 'http2-settings']);

/**
 * The request line and headers of `req` as received (names as sent, repeats kept), without
 * `Upgrade` and `HTTP2-Settings` and without those tokens in `Connection` (a `Connection` left
 * empty is dropped). Never longer than the head it was read from, so it stays within Node's
 * `maxHeaderSize`. Node read the head as latin1, so it is written back as latin1.
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
        .join(',');
      if (!value) continue;
    }
    head += `${name}:${value}\r\n`;
  }
  return `${head}\r\n`;
}
