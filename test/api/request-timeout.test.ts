import { connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  API_KEY,
  closeClients,
  connect,
  nextEvent,
  type RunningBroker,
  request,
  startBroker,
  testConfig,
  token,
  within,
} from '../helpers/broker.js';
import { api, closeStreams, isRefusal, openSse } from './http.js';

// `limits.requestTimeoutMs`: how long a client has to send one HTTP request, headers and body.
const TIMEOUT_MS = 300;

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker(testConfig({ limits: { requestTimeoutMs: TIMEOUT_MS } }));
});
afterAll(async () => {
  closeClients();
  closeStreams();
  await b.close();
});

/**
 * Sends `raw` and keeps the connection open (no end: a client that stalls), reading until the
 * server closes it. Resolves with the status line's code and the body.
 */
function stalledRequest(raw: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(b.url);
  return new Promise((resolve, reject) => {
    const socket = tcpConnect(Number(port), hostname, () => socket.write(raw));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => {
      const [head = '', body = ''] = Buffer.concat(chunks).toString('utf8').split('\r\n\r\n');
      resolve({ status: Number(head.split(' ')[1]), body });
    });
  });
}

const BODY_TIMEOUT = {
  ok: false,
  error: { code: 'bad_request', message: 'the request was not received in time' },
};

describe('limits.requestTimeoutMs', () => {
  it('answers 408 to a request whose body stops coming, and leaves streams and sockets that are older open', async () => {
    // Long-lived requests made before the stalled ones: each is older than the timeout by the time
    // the stalled requests are cut, and none of them is cut.
    const ws = await connect(b.url, token('ws'));
    const polling = await connect(b.url, token('poll'), { transports: ['polling'] });
    for (const s of [ws, polling]) expect((await request(s, 'join', { room: 'a' })).ok).toBe(true);
    const sse = await openSse(`${b.url}/v1/events?room=a&token=${token('sse')}`);
    if (isRefusal(sse)) throw new Error(`SSE refused: ${JSON.stringify(sse.body)}`);

    // A caller with a valid key that announces 100 bytes and sends 8.
    const body = stalledRequest(
      `POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${API_KEY}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"room":',
    );
    // And one whose headers never end.
    const headers = stalledRequest('GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n');
    for (const res of await within(Promise.all([body, headers]), 10_000, 'the 408s')) {
      expect(res.status).toBe(408);
      expect(JSON.parse(res.body)).toEqual(BODY_TIMEOUT);
    }

    const viaWs = nextEvent<{ data: unknown }>(ws, 'message');
    const viaPolling = nextEvent<{ data: unknown }>(polling, 'message');
    const viaSse = sse.next((e) => e.event === 'e');
    const sent = await api(b.url, 'POST', '/v1/publish', { room: 'a', event: 'e', data: 'after' });
    expect(sent.status).toBe(200);
    expect((await viaWs).data).toBe('after');
    expect((await viaPolling).data).toBe('after');
    expect(JSON.parse((await viaSse).data).data).toBe('after');
  });

  it('lets a slow request through when it completes within the timeout', async () => {
    const { hostname, port } = new URL(b.url);
    const payload = JSON.stringify({ room: 'b', event: 'e', data: 1 });
    const res = await within(
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const socket = tcpConnect(Number(port), hostname, () => {
          socket.write(
            `POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${API_KEY}\r\nConnection: close\r\n` +
              `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n${payload.slice(0, 5)}`,
          );
          // The rest in the next turn of the event loop, not at once.
          setImmediate(() => socket.write(payload.slice(5)));
        });
        const chunks: Buffer[] = [];
        socket.on('data', (c: Buffer) => chunks.push(c));
        socket.on('error', reject);
        socket.on('close', () => {
          const [head = '', text = ''] = Buffer.concat(chunks).toString('utf8').split('\r\n\r\n');
          resolve({ status: Number(head.split(' ')[1]), body: text });
        });
      }),
      10_000,
      'the reply',
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ ok: true, results: [{ room: 'b', offset: 1 }] });
  });
});
