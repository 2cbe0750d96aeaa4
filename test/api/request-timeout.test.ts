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
import { api, closeStreams, isRefusal, openSse, rawHttp } from './http.js';

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
    const body = rawHttp(
      b.url,
      `POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${API_KEY}\r\n` +
        'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"room":',
      { end: false },
    );
    // And one whose headers never end.
    const headers = rawHttp(b.url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1\r\n', { end: false });
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
    const payload = JSON.stringify({ room: 'b', event: 'e', data: 1 });
    const head =
      `POST /v1/publish HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${API_KEY}\r\nConnection: close\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${payload.length}\r\n\r\n`;
    // The body in two writes, a turn of the event loop apart.
    const res = await within(
      rawHttp(b.url, [head + payload.slice(0, 5), payload.slice(5)], { end: false }),
      10_000,
      'the reply',
    );
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({ ok: true, results: [{ room: 'b', offset: 1 }] });
  });
});
