import { connect as tcpConnect } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, closeClients, connect, type RunningBroker, startBroker, token } from '../helpers/broker.js';

/**
 * A request that asks to upgrade to something roomcast does not speak is answered as plain HTTP
 * (src/http/upgrades.ts): curl --http2 and Java's HttpClient send `Upgrade: h2c` on cleartext, and
 * such a request to the server API or /healthz used to get no reply at all.
 */

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker();
});
afterEach(() => closeClients());
afterAll(() => b?.close());

const H2C =
  'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n';

/**
 * Writes `parts` to the broker's port one after another (each after the previous was flushed), and
 * resolves with everything the server sent once it closes the connection (the last request says
 * `Connection: close`).
 */
function exchange(port: number, parts: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = tcpConnect(port, '127.0.0.1', () => {
      const next = (i: number) => {
        if (i < parts.length) socket.write(parts[i] as string, () => next(i + 1));
      };
      next(0);
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('no reply within 10 s')));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

/** The status lines of the HTTP replies in `text`, in order. */
const statuses = (text: string) => [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

describe('a request with an Upgrade roomcast does not take', () => {
  it('h2c to /healthz is answered as HTTP/1.1, and the connection serves the next request', async () => {
    const text = await exchange(b.port, [
      `GET /healthz HTTP/1.1\r\nHost: x\r\n${H2C}\r\n`,
      'GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ]);
    expect(statuses(text)).toEqual([200, 200]);
    expect(text).toContain('{"ok":true}');
    expect(text).not.toMatch(/^HTTP\/1\.1 101/m);
  });

  it('h2c on a publish with a body (sent after the head) publishes it once', async () => {
    const room = 'h2c:one';
    const c = await connect(b.url, token('alice'));
    const got = new Promise((resolve) => c.on('message', resolve));
    await new Promise((resolve, reject) =>
      c.emit('join', { room }, (r: { ok: boolean }) => (r.ok ? resolve(r) : reject(new Error('join')))),
    );
    const body = JSON.stringify({ room, event: 'e', data: { n: 1 } });
    const text = await exchange(b.port, [
      'POST /v1/publish HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings, close\r\n' +
        `Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\nAuthorization: Bearer ${API_KEY}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
      body,
    ]);
    expect(statuses(text)).toEqual([200]);
    expect(text).toContain('"offset":1');
    await expect(got).resolves.toMatchObject({ room, event: 'e', data: { n: 1 }, offset: 1 });
  });

  it('pipelined requests behind an h2c one are all answered, in order', async () => {
    const text = await exchange(b.port, [
      `GET /healthz HTTP/1.1\r\nHost: x\r\n${H2C}\r\n` +
        'GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n' +
        'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ]);
    expect(statuses(text)).toEqual([200, 404, 200]);
  });

  it('an h2c request pipelined behind a plain one is answered after it, and so is the next', async () => {
    const text = await exchange(b.port, [
      'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' +
        `GET /healthz HTTP/1.1\r\nHost: x\r\n${H2C}\r\n` +
        `GET /nowhere HTTP/1.1\r\nHost: x\r\n${H2C}\r\n` +
        'GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    ]);
    expect(statuses(text)).toEqual([200, 200, 404, 200]);
  });

  it('a body framed by a header past the ones Node keeps is refused, not read as another request', async () => {
    // Node keeps 2000 headers (maxHeadersCount) and reads the body's length from all of them.
    const smuggled = 'GET /nowhere-smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
    const many = 'a:b\r\n'.repeat(2100);
    const text = await exchange(b.port, [
      `POST /healthz HTTP/1.1\r\nHost: x\r\n${H2C}${many}Content-Length: ${smuggled.length}\r\n\r\n${smuggled}`,
    ]);
    expect(statuses(text)).toEqual([431]);
    expect(text).not.toContain('nowhere-smuggled');
  });

  it('a WebSocket upgrade to a path that is not Socket.IO gets the 404 any request there gets', async () => {
    const text = await exchange(b.port, [
      'GET /v1/nowhere HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    ]);
    expect(statuses(text)).toEqual([404]);
    expect(text).toContain('"code":"not_found"');
  });

  it('the Socket.IO path still upgrades to WebSocket', async () => {
    const c = await connect(b.url, token('bob'), { transports: ['websocket'] });
    expect(c.io.engine.transport.name).toBe('websocket');
  });
});
