import { request } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { originPolicy } from '../../src/http/origins.js';
import { api, closeStreams, isRefusal, openSse } from '../api/http.js';
import {
  closeClients,
  connect,
  connectError,
  type RunningBroker,
  startBroker,
  testConfig,
  token,
} from '../helpers/broker.js';

/**
 * One origin policy for everything on the port (README "Configuration", `allowedOrigins`):
 * Socket.IO handshakes, SSE, `/roomcast.js` and every other HTTP reply.
 */

const APP = 'https://app.example';
const EVIL = 'https://evil.example';
const reader = () => token('reader', { subscribe: ['o:*'], publish: [], presence: ['o:*'] });

let listed: RunningBroker;
let wildcard: RunningBroker;
beforeAll(async () => {
  [listed, wildcard] = await Promise.all([
    startBroker(testConfig({ allowedOrigins: [APP, 'http://localhost:5173'] })),
    startBroker(testConfig({ allowedOrigins: ['*'] })),
  ]);
});
afterEach(() => {
  closeClients();
  closeStreams();
});
afterAll(async () => {
  await Promise.all([listed?.close(), wildcard?.close()]);
});

const get = (url: string, headers: Record<string, string> = {}) =>
  fetch(url, { headers, signal: AbortSignal.timeout(10_000) });

/**
 * The status and headers of one request made with node:http, for what fetch() cannot send
 * (`Upgrade`); a 101 reply's socket is closed at once.
 */
function rawReply(
  url: string,
  opts: { method?: string; headers: Record<string, string> },
): Promise<{ status: number; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...opts, timeout: 10_000 });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('response', (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    });
    req.on('timeout', () => req.destroy(new Error(`no reply to ${opts.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    req.end();
  });
}

/** The CORS headers of a reply to `origin` under a list: the origin echoed, with credentials. */
function expectListedCors(headers: Headers | Record<string, unknown>, origin = APP): void {
  const h = (name: string) =>
    headers instanceof Headers ? headers.get(name) : ((headers[name] as string | undefined) ?? null);
  expect(h('access-control-allow-origin')).toBe(origin);
  expect(h('access-control-allow-credentials')).toBe('true');
  expect(h('vary')).toMatch(/origin/i);
}

describe('the origin policy (unit)', () => {
  it('lets requests without Origin through, and never pairs "*" with credentials', () => {
    const list = originPolicy([APP]);
    expect([list.allows(undefined), list.allows(APP), list.allows(EVIL)]).toEqual([true, true, false]);
    expect(list.credentials).toBe(true);
    const any = originPolicy(['*']);
    expect([any.allows(EVIL), any.any, any.credentials]).toEqual([true, true, false]);
  });
});

describe('GET /roomcast.js across origins', () => {
  it('carries CORS headers for every listed origin, so a page there can import it', async () => {
    for (const origin of [APP, 'http://localhost:5173']) {
      const res = await get(`${listed.url}/roomcast.js`, { origin });
      expect([200, 404]).toContain(res.status); // 404 only when the bundle was never built
      expectListedCors(res.headers, origin);
      await res.arrayBuffer();
    }
  });

  it('refuses an origin that is not listed with 403 and the error body', async () => {
    const res = await get(`${listed.url}/roomcast.js`, { origin: EVIL });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({
      ok: false,
      error: { code: 'forbidden', message: expect.any(String) },
    });
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('with ["*"] sends "*" and no credentials', async () => {
    const res = await get(`${wildcard.url}/roomcast.js`, { origin: EVIL });
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    await res.arrayBuffer();
  });
});

describe('GET /v1/events across origins', () => {
  it('refuses an origin that is not listed with 403, before anything joins', async () => {
    const refused = await openSse(`${listed.url}/v1/events?room=o:1&token=${reader()}`, { origin: EVIL });
    expect(isRefusal(refused) && refused).toEqual({
      status: 403,
      body: { ok: false, error: { code: 'forbidden', message: expect.stringContaining(EVIL) } },
    });
    const presence = await api<{ members: unknown[] }>(listed.url, 'GET', '/v1/rooms/o%3A1/presence');
    expect(presence.body.members).toEqual([]);
  });

  it('streams to a listed origin with its CORS headers', async () => {
    const s = await openSse(`${listed.url}/v1/events?room=o:2&token=${reader()}`, { origin: APP });
    if (isRefusal(s)) throw new Error(`refused: ${JSON.stringify(s.body)}`);
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toMatch(/^text\/event-stream/);
    expectListedCors(s.headers);
  });

  it('puts the CORS headers on 401, 403 and 404 replies to a listed origin', async () => {
    const cases: Array<[string, number]> = [
      ['/v1/events?room=o:3&token=not-a-jwt', 401],
      [`/v1/events?room=secret:1&token=${reader()}`, 403],
      ['/v1/nothing-here', 404],
    ];
    for (const [path, status] of cases) {
      const res = await get(`${listed.url}${path}`, { origin: APP, accept: 'text/event-stream' });
      expect(res.status, path).toBe(status);
      expect(((await res.json()) as { ok: boolean }).ok).toBe(false);
      expectListedCors(res.headers);
    }
  });

  it('answers a preflight from a listed origin with the headers EventSource polyfills send', async () => {
    const res = await fetch(`${listed.url}/v1/events`, {
      method: 'OPTIONS',
      headers: {
        origin: APP,
        'access-control-request-method': 'GET',
        'access-control-request-headers': 'authorization,last-event-id',
      },
    });
    expect(res.status).toBe(204);
    expectListedCors(res.headers);
    expect(res.headers.get('access-control-allow-headers')).toMatch(/authorization/i);
  });

  it('answers an OPTIONS without Access-Control-Request-Method as a preflight, and one without Origin with the 404 body', async () => {
    const loose = await fetch(`${listed.url}/v1/publish`, { method: 'OPTIONS', headers: { origin: APP } });
    expect(loose.status).toBe(204);
    expectListedCors(loose.headers);
    await loose.arrayBuffer();
    const bare = await fetch(`${listed.url}/v1/publish`, { method: 'OPTIONS' });
    expect(bare.status).toBe(404);
    expect(bare.headers.get('access-control-allow-origin')).toBeNull();
    expect(await bare.json()).toMatchObject({ ok: false, error: { code: 'not_found' } });
  });

  it('with ["*"] streams to any origin with "*" and no credentials', async () => {
    const s = await openSse(`${wildcard.url}/v1/events?room=o:4&token=${reader()}`, { origin: EVIL });
    if (isRefusal(s)) throw new Error(`refused: ${JSON.stringify(s.body)}`);
    expect(s.headers['access-control-allow-origin']).toBe('*');
    expect(s.headers['access-control-allow-credentials']).toBeUndefined();
  });
});

describe('the rest of the port follows the same policy', () => {
  it('serves clients that send no Origin (servers, apps) whatever the list', async () => {
    const health = await get(`${listed.url}/healthz`);
    expect(health.status).toBe(200);
    await health.arrayBuffer();
    const res = await api(listed.url, 'POST', '/v1/publish', { room: 'o:5', event: 'e', data: 1 });
    expect(res.status).toBe(200);
  });

  it('sends CORS headers only to requests with an Origin, and Vary: Origin to every one', async () => {
    for (const broker of [listed, wildcard]) {
      const bare = await api(broker.url, 'POST', '/v1/publish', { room: 'o:6', event: 'e', data: 1 });
      expect(bare.status).toBe(200);
      expect(bare.headers.get('access-control-allow-origin')).toBeNull();
      expect(bare.headers.get('access-control-allow-credentials')).toBeNull();
      expect(bare.headers.get('vary')).toMatch(/origin/i);
    }
    const browser = await api(
      listed.url,
      'POST',
      '/v1/publish',
      { room: 'o:6', event: 'e', data: 1 },
      { headers: { origin: APP } },
    );
    expect(browser.status).toBe(200);
    expectListedCors(browser.headers);
    expect(browser.headers.get('vary')).toMatch(/origin/i);
  });

  it.each([
    ['bad percent-encoding', '/v1/rooms/%ZZ/presence'],
    ['an overlong path parameter', `/v1/rooms/${'a'.repeat(3000)}/presence`],
  ])('follows the policy on URLs the router cannot read (%s: 400 before any route)', async (_, path) => {
    const fromApp = await get(`${listed.url}${path}`, { origin: APP });
    expect(fromApp.status).toBe(400);
    expect(await fromApp.json()).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expectListedCors(fromApp.headers);
    expect(fromApp.headers.get('access-control-expose-headers')).toBe('retry-after');
    const fromEvil = await get(`${listed.url}${path}`, { origin: EVIL });
    expect(fromEvil.status).toBe(403);
    expect(await fromEvil.json()).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    expect(fromEvil.headers.get('access-control-allow-origin')).toBeNull();
    const anyOrigin = await get(`${wildcard.url}${path}`, { origin: EVIL });
    expect(anyOrigin.status).toBe(400);
    expect(anyOrigin.headers.get('access-control-allow-origin')).toBe('*');
    expect(anyOrigin.headers.get('access-control-allow-credentials')).toBeNull();
    await anyOrigin.arrayBuffer();
    const noOrigin = await get(`${listed.url}${path}`);
    expect(noOrigin.status).toBe(400);
    expect(noOrigin.headers.get('access-control-allow-origin')).toBeNull();
    expect(noOrigin.headers.get('vary')).toMatch(/origin/i);
    await noOrigin.arrayBuffer();
  });

  it('answers a preflight to a URL the router cannot read as it answers any preflight', async () => {
    const preflight = (path: string, origin: string) =>
      fetch(`${listed.url}${path}`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'GET',
          'access-control-request-headers': 'authorization',
        },
        signal: AbortSignal.timeout(10_000),
      });
    const normal = await preflight('/v1/rooms/o%3A1/presence', APP);
    const bad = await preflight('/v1/rooms/%ZZ/presence', APP);
    expect(normal.status).toBe(204);
    expect(bad.status).toBe(204);
    for (const name of [
      'access-control-allow-origin',
      'access-control-allow-credentials',
      'access-control-allow-methods',
      'access-control-allow-headers',
      'access-control-expose-headers',
    ]) {
      expect(bad.headers.get(name), name).toBe(normal.headers.get(name));
    }
    expect(bad.headers.get('vary')).toMatch(/origin/i);
    const refused = await preflight('/v1/rooms/%ZZ/presence', EVIL);
    expect(refused.status).toBe(403);
    await refused.arrayBuffer();
  });

  it('Socket.IO polling: the listed origin is echoed with credentials; "*" gets no credentials', async () => {
    const handshake = (base: string, origin: string) =>
      get(`${base}/socket.io/?EIO=4&transport=polling`, { origin });
    const listedReply = await handshake(listed.url, APP);
    expect(listedReply.status).toBe(200);
    expectListedCors(listedReply.headers);
    const { sid } = JSON.parse((await listedReply.text()).slice(1)) as { sid: string };
    // The session's own requests: a browser reads the reply of each POST and GET too.
    const session = `${listed.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
    const sent = await fetch(session, {
      method: 'POST',
      body: `40${JSON.stringify({ token: reader() })}`,
      headers: { origin: APP, 'content-type': 'text/plain;charset=UTF-8' },
      signal: AbortSignal.timeout(10_000),
    });
    expect([sent.status, await sent.text()]).toEqual([200, 'ok']);
    expectListedCors(sent.headers);
    const received = await get(session, { origin: APP });
    expect(received.status).toBe(200);
    expect(await received.text()).toMatch(/^40\{"sid":/);
    expectListedCors(received.headers);
    const refused = await handshake(listed.url, EVIL);
    expect(refused.status).toBe(403);
    expect(refused.headers.get('access-control-allow-origin')).toBeNull();
    await refused.arrayBuffer();
    const any = await handshake(wildcard.url, EVIL);
    expect(any.status).toBe(200);
    expect(any.headers.get('access-control-allow-origin')).toBe('*');
    expect(any.headers.get('access-control-allow-credentials')).toBeNull();
    await any.arrayBuffer();
  });

  it('Socket.IO polling: a preflight from a listed origin is allowed, one from another origin is not', async () => {
    const preflight = (base: string, origin: string) =>
      fetch(`${base}/socket.io/?EIO=4&transport=polling`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization',
        },
        signal: AbortSignal.timeout(10_000),
      });
    const ok = await preflight(listed.url, APP);
    expect(ok.status).toBe(204);
    expectListedCors(ok.headers);
    expect(ok.headers.get('access-control-allow-methods')).toMatch(/POST/);
    expect(ok.headers.get('access-control-allow-headers')).toBe('authorization');
    const other = await preflight(listed.url, EVIL);
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    // The handshake itself gets Engine.IO's own refusal (README, `allowedOrigins`), not roomcast's body.
    const handshake = await get(`${listed.url}/socket.io/?EIO=4&transport=polling`, { origin: EVIL });
    expect(handshake.status).toBe(403);
    expect(await handshake.json()).toEqual({ code: 4, message: 'Forbidden' });
    const any = await preflight(wildcard.url, EVIL);
    expect(any.headers.get('access-control-allow-origin')).toBe('*');
    expect(any.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it("Socket.IO's client script carries the CORS headers, so a page on a listed origin can import it", async () => {
    const script = await get(`${listed.url}/socket.io/socket.io.esm.min.js`, { origin: APP });
    expect(script.status).toBe(200);
    expect(script.headers.get('content-type')).toMatch(/javascript/);
    expectListedCors(script.headers);
    await script.arrayBuffer();
    // Its source map too: a browser's developer tools fetch it from the page's origin.
    const map = await get(`${listed.url}/socket.io/socket.io.esm.min.js.map`, { origin: APP });
    expect(map.status).toBe(200);
    expectListedCors(map.headers);
    expect(((await map.json()) as { version: number }).version).toBe(3);
    const any = await get(`${wildcard.url}/socket.io/socket.io.js`, { origin: EVIL });
    expect(any.headers.get('access-control-allow-origin')).toBe('*');
    await any.arrayBuffer();
  });

  it('Socket.IO over WebSocket: the upgrade is accepted for a listed origin, with no CORS headers (browsers read none)', async () => {
    const upgrade = (origin: string) =>
      rawReply(`${listed.url}/socket.io/?EIO=4&transport=websocket`, {
        headers: {
          origin,
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'sec-websocket-version': '13',
        },
      });
    const ok = await upgrade(APP);
    expect(ok.status).toBe(101);
    expect(ok.headers['access-control-allow-origin']).toBeUndefined();
    // Engine.IO refuses an upgrade that `allowRequest` refused with 400 (its handshake errors, 403 over polling).
    expect((await upgrade(EVIL)).status).toBe(400);
  });

  it('Socket.IO polling without an Origin (a server, an app) gets no CORS headers, only Vary: Origin', async () => {
    for (const base of [listed.url, wildcard.url]) {
      const reply = await get(`${base}/socket.io/?EIO=4&transport=polling`);
      expect(reply.status).toBe(200);
      expect(reply.headers.get('access-control-allow-origin')).toBeNull();
      expect(reply.headers.get('access-control-allow-credentials')).toBeNull();
      expect(reply.headers.get('vary')).toMatch(/origin/i);
      await reply.arrayBuffer();
    }
  });

  it("Socket.IO's error replies, 304s and requests with a stray Upgrade header keep the CORS headers", async () => {
    const unknownSid = await get(`${listed.url}/socket.io/?EIO=4&transport=polling&sid=nope`, {
      origin: APP,
    });
    expect(unknownSid.status).toBe(400);
    expectListedCors(unknownSid.headers);
    await unknownSid.arrayBuffer();
    const first = await get(`${listed.url}/socket.io/socket.io.min.js`, { origin: APP });
    await first.arrayBuffer();
    const etag = first.headers.get('etag');
    expect(etag).toBeTruthy();
    const again = await get(`${listed.url}/socket.io/socket.io.min.js`, {
      origin: APP,
      'if-none-match': etag as string,
    });
    expect(again.status).toBe(304);
    expectListedCors(again.headers);
    // `Upgrade` without `Connection: upgrade` is an ordinary request (Node does not route it to
    // the upgrade path): its preflight is answered as any other. fetch() cannot send `Upgrade`.
    const stray = await rawReply(`${listed.url}/socket.io/?EIO=4&transport=polling`, {
      method: 'OPTIONS',
      headers: { origin: APP, upgrade: 'h2c', 'access-control-request-method': 'POST' },
    });
    expect(stray.status).toBe(204);
    expectListedCors(stray.headers);
  });

  it('a Laravel Echo namespace (Engine.IO 3 polling) follows the same policy', async () => {
    const echo = await startBroker(
      testConfig({
        allowedOrigins: [APP],
        namespaces: {
          '/': {
            echo: {
              authHost: 'http://127.0.0.1:9',
              apps: [{ appId: 'app-1', key: 'app-key-0123456789' }],
              subscribeRedis: false,
            },
          },
        },
      }),
    );
    try {
      const handshake = (origin?: string) =>
        get(`${echo.url}/socket.io/?EIO=3&transport=polling`, origin ? { origin } : {});
      const ok = await handshake(APP);
      expect(ok.status).toBe(200);
      expectListedCors(ok.headers);
      await ok.arrayBuffer();
      const refused = await handshake(EVIL);
      expect(refused.status).toBe(403);
      await refused.arrayBuffer();
      const none = await handshake();
      expect(none.headers.get('access-control-allow-origin')).toBeNull();
      expect(none.headers.get('access-control-allow-credentials')).toBeNull();
      await none.arrayBuffer();
    } finally {
      await echo.close();
    }
  });

  it('Socket.IO refuses the same origins SSE refuses', async () => {
    const opts = (origin: string) => ({ transports: ['websocket'], extraHeaders: { origin } });
    await connectError(listed.url, reader(), opts(EVIL));
    expect((await connect(listed.url, reader(), opts(APP))).connected).toBe(true);
  });
});
