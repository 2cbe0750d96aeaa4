import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../api/http.js';
import {
  closeClients,
  connect,
  type RunningBroker,
  startBroker,
  testConfig,
  until,
} from '../helpers/broker.js';

/**
 * laravel-echo-server's HTTP API under roomcast's own limits (docs/laravel.md): the app key is
 * checked before the body is read, an event reaches at most `api.maxRoomsPerPublish` channels,
 * each once, an event name is at most 200 characters, and each app has `api.rateLimitPerSecond`.
 */
const APP = { appId: 'app-1', key: 'app-key-0123456789' };
let rc: RunningBroker;
let limited: RunningBroker;

const echoConfig = (api: Record<string, unknown>) =>
  testConfig({
    api,
    namespaces: { '/': { echo: { authHost: 'http://127.0.0.1:9', apps: [APP], subscribeRedis: false } } },
  });

beforeAll(async () => {
  [rc, limited] = await Promise.all([
    startBroker(echoConfig({ maxRoomsPerPublish: 3 })),
    startBroker(echoConfig({ rateLimitPerSecond: 3 })),
  ]);
});
afterEach(() => closeClients());
afterAll(async () => {
  await Promise.all([rc?.close(), limited?.close()]);
});

function call(b: RunningBroker, method: string, path: string, body?: string, key: string | null = APP.key) {
  return fetch(`${b.url}/apps/${APP.appId}${path}`, {
    method,
    headers: {
      ...(key === null ? {} : { authorization: `Bearer ${key}` }),
      'content-type': 'application/json',
    },
    ...(body === undefined ? {} : { body }),
    signal: AbortSignal.timeout(10_000),
  }).then(async (r) => ({
    status: r.status,
    headers: r.headers,
    body: (await r.json()) as Record<string, unknown>,
  }));
}

const publish = (b: RunningBroker, body: unknown) => call(b, 'POST', '/events', JSON.stringify(body));

/** A raw Socket.IO client subscribed to public `channels`, as Echo subscribes (awaited through the API's count). */
async function subscriber(channels: string[]): Promise<Socket> {
  const s = (await connect(rc.url, undefined)) as unknown as Socket;
  for (const channel of channels) s.emit('subscribe', { channel, auth: { headers: {} } });
  for (const channel of channels)
    await until(
      async () => (await call(rc, 'GET', `/channels/${channel}`)).body.subscription_count === 1,
      5000,
      `${channel} subscribed`,
    );
  return s;
}

describe('Echo HTTP API limits', () => {
  it('without the key, a body is not read: 403 whatever it holds', async () => {
    for (const key of [null, 'wrong-key-0123456']) {
      expect(await call(rc, 'POST', '/events', '{', key)).toMatchObject({
        status: 403,
        body: { error: 'Unauthorized' },
      });
      const deep = '['.repeat(100_000) + ']'.repeat(100_000);
      expect((await call(rc, 'POST', '/events', deep, key)).status).toBe(403);
    }
    expect((await call(rc, 'POST', '/events', '{')).status).toBe(400);
  });

  it('an event goes to at most api.maxRoomsPerPublish channels, and to a channel listed twice once', async () => {
    const s = await subscriber(['lim.a', 'lim.b']);
    const got: Array<[string, unknown]> = [];
    s.on('order', (channel: string, data: unknown) => got.push([channel, data]));
    const tooMany = await publish(rc, {
      channels: ['lim.a', 'lim.b', 'lim.c', 'lim.d'],
      name: 'order',
      data: { n: 0 },
    });
    expect(tooMany).toMatchObject({
      status: 400,
      body: { error: 'At most 3 channels per event (api.maxRoomsPerPublish)' },
    });
    const ok = await publish(rc, { channels: ['lim.a', 'lim.a', 'lim.b'], name: 'order', data: { n: 1 } });
    expect(ok).toMatchObject({ status: 200, body: { message: 'ok' } });
    // A marker after: once it is here, everything published before it is too.
    await publish(rc, { channel: 'lim.b', name: 'order', data: { n: 2 } });
    await until(() => got.some(([, d]) => (d as { n: number }).n === 2), 5000, 'the marker');
    expect(got).toEqual([
      ['lim.a', { n: 1 }],
      ['lim.b', { n: 1 }],
      ['lim.b', { n: 2 }],
    ]);
  });

  it('an event name is at most 200 characters', async () => {
    const long = await publish(rc, { channel: 'lim.n', name: 'E'.repeat(201), data: { a: 1 } });
    expect(long).toMatchObject({ status: 400, body: { error: 'Event name longer than 200 characters' } });
    const ok = await publish(rc, { channel: 'lim.n', name: 'E'.repeat(200), data: { a: 1 } });
    expect(ok.status).toBe(200);
  });

  it('a name Socket.IO reserves is refused on both APIs, and an Echo client in the room goes on getting events', async () => {
    const s = await subscriber(['reserved']);
    const got: unknown[] = [];
    s.on('ok', (_channel: string, data: unknown) => got.push(data));
    for (const name of [
      'disconnect',
      'connect',
      'connect_error',
      'disconnecting',
      'newListener',
      'removeListener',
    ]) {
      expect(await publish(rc, { channel: 'reserved', name, data: { a: 1 } })).toMatchObject({
        status: 400,
        body: { error: expect.stringContaining(`event name "${name}" is reserved by Socket.IO`) },
      });
      const viaApi = await api(rc.url, 'POST', '/v1/publish', { room: 'reserved', event: name, data: 1 });
      expect(viaApi).toMatchObject({ status: 400, body: { ok: false, error: { code: 'bad_request' } } });
    }
    expect((await publish(rc, { channel: 'reserved', name: 'ok', data: { a: 2 } })).status).toBe(200);
    await until(() => got.length === 1, 5000, 'the next event');
    expect(got).toEqual([{ a: 2 }]);
    expect(s.connected).toBe(true);
  });

  it('counts one channel without the channels its name prefixes', async () => {
    await subscriber(['count.one', 'count.one.more']);
    expect((await call(rc, 'GET', '/channels/count.one')).body).toEqual({
      subscription_count: 1,
      occupied: true,
    });
    expect((await call(rc, 'GET', '/channels/count.on')).body).toEqual({
      subscription_count: 0,
      occupied: false,
    });
  });

  it('lists a channel named __proto__ as any other, not as the prototype of its list', async () => {
    await subscriber(['__proto__', 'proto.next']);
    const channels = (await call(rc, 'GET', '/channels')).body.channels as Record<string, unknown>;
    expect(
      Object.entries(channels).filter(([name]) => name === '__proto__' || name === 'proto.next'),
    ).toEqual([
      ['__proto__', { subscription_count: 1, occupied: true }],
      ['proto.next', { subscription_count: 1, occupied: true }],
    ]);
  });

  it('each app has api.rateLimitPerSecond: past it, 429 with Retry-After', async () => {
    const replies = [];
    // 30 in a row: all would pass only if they took more than 9 s.
    for (let i = 0; i < 30; i++)
      replies.push(await publish(limited, { channel: 'rate', name: 'e', data: { i } }));
    const refused = replies.filter((r) => r.status === 429);
    expect(refused.length).toBeGreaterThan(0);
    expect(refused[0]?.body).toEqual({ error: 'more than 3 requests per second with this app key' });
    expect(Number(refused[0]?.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(replies.filter((r) => r.status === 200).length + refused.length).toBe(30);
    // A wrong key is refused before it counts against the app.
    expect((await call(limited, 'GET', '/status', undefined, 'wrong-key-0123456')).status).toBe(403);
  });
});
