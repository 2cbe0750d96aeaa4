import { Agent, request as httpRequest } from 'node:http';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import {
  API_KEY,
  closeClients,
  collect,
  connect,
  nextEvent,
  type RunningBroker,
  request,
  startBroker,
  testConfig,
  token,
  until,
} from '../helpers/broker.js';
import { api } from './http.js';

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker(
    testConfig({
      api: { maxRoomsPerPublish: 3, maxBatchMessages: 4 },
      namespaces: {
        '/': {},
        '/ops': { apiKeys: ['ops-key-00000001'], jwt: { secrets: ['ops-secret-0123456789abcdef'] } },
      },
    }),
  );
});
afterEach(() => closeClients());
afterAll(() => b.close());

async function member(room: string) {
  const socket = await connect(b.url, token('watcher'));
  expect(await request(socket, 'join', { room })).toMatchObject({ ok: true });
  return socket;
}

describe('POST /v1/publish', () => {
  it('publishes through the core: offsets, history, delivery with from null', async () => {
    const socket = await member('api:one');
    const got = nextEvent<Envelope>(socket, 'message');
    const res = await api(b.url, 'POST', '/v1/publish', { room: 'api:one', event: 'note', data: { n: 1 } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, results: [{ room: 'api:one', offset: 1 }] });
    expect(await got).toMatchObject({
      room: 'api:one',
      event: 'note',
      data: { n: 1 },
      offset: 1,
      from: null,
    });
    const again = await api(b.url, 'POST', '/v1/publish', { room: 'api:one', event: 'note', data: null });
    expect(again.body).toMatchObject({ ok: true, results: [{ offset: 2 }] });
    const history = await request(socket, 'history', { room: 'api:one' });
    expect((history.messages as Envelope[]).map((m) => m.data)).toEqual([{ n: 1 }, null]);
  });

  it('publishes to each of rooms[] and validates every room before publishing any', async () => {
    const a = await member('multi:a');
    const seen = collect<Envelope>(a, 'message');
    const res = await api(b.url, 'POST', '/v1/publish', {
      rooms: ['multi:a', 'multi:b'],
      event: 'e',
      data: 1,
    });
    expect(res.body.results).toEqual([
      { room: 'multi:a', offset: 1, epoch: expect.any(String) },
      { room: 'multi:b', offset: 1, epoch: expect.any(String) },
    ]);
    const bad = await api(b.url, 'POST', '/v1/publish', {
      rooms: ['multi:a', 'bad room'],
      event: 'e',
      data: null,
    });
    expect(bad).toMatchObject({
      status: 400,
      body: { ok: false, error: { code: 'invalid_room', message: expect.stringMatching(/^rooms\.1: /) } },
    });
    const tooMany = await api(b.url, 'POST', '/v1/publish', {
      rooms: ['a', 'b', 'c', 'd'],
      event: 'e',
      data: null,
    });
    expect(tooMany).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    expect(tooMany.body.error?.message).toMatch(/rooms/);
    const twice = await api(b.url, 'POST', '/v1/publish', {
      rooms: ['multi:a', 'multi:a'],
      event: 'e',
      data: null,
    });
    expect(twice).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    await until(() => seen.length === 1, 2000, 'first publish');
    const after = await api(b.url, 'POST', '/v1/publish', { room: 'multi:a', event: 'e', data: null });
    expect(after.body.results).toMatchObject([{ offset: 2 }]);
  });

  it.each([
    ['malformed JSON', { raw: '{"room": ' }, 400, 'bad_request'],
    ['an empty body', { raw: '' }, 400, 'bad_request'],
    ['a JSON array', { body: [] }, 400, 'bad_request'],
    ['no event', { body: { room: 'r' } }, 400, 'bad_request'],
    ['a number as event', { body: { room: 'r', event: 5 } }, 400, 'bad_request'],
    [
      'both room and rooms',
      { body: { room: 'r', rooms: ['s'], event: 'e', data: null } },
      400,
      'bad_request',
    ],
    ['neither room nor rooms', { body: { event: 'e', data: null } }, 400, 'bad_request'],
    ['an unknown field', { body: { room: 'r', event: 'e', idempotency_key: 'k' } }, 400, 'bad_request'],
    ['an invalid room', { body: { room: 'no spaces', event: 'e', data: null } }, 400, 'invalid_room'],
    [
      'a room name too long',
      { body: { room: 'r'.repeat(1001), event: 'e', data: null } },
      400,
      'invalid_room',
    ],
    [
      'a room name too long in rooms',
      { body: { rooms: ['r', 'r'.repeat(1001)], event: 'e', data: null } },
      400,
      'invalid_room',
    ],
    [
      'an unknown namespace',
      { body: { namespace: '/nope', room: 'r', event: 'e', data: null } },
      404,
      'not_found',
    ],
    [
      'a payload over the namespace limit',
      { body: { room: 'r', event: 'e', data: 'x'.repeat(70_000) } },
      413,
      'payload_too_large',
    ],
    [
      'a body over the API limit',
      { raw: JSON.stringify({ room: 'r', event: 'e', data: 'x'.repeat(1_100_000) }) },
      413,
      'payload_too_large',
    ],
    ['a __proto__ key', { raw: '{"room":"r","event":"e","__proto__":{"x":1}}' }, 400, 'bad_request'],
    [
      'a Socket.IO binary placeholder look-alike in data',
      { body: { room: 'r', event: 'e', data: { list: [{ _placeholder: true, num: 0 }] } } },
      400,
      'bad_request',
    ],
    [
      'a small payload nested 20,000 deep',
      { raw: `{"room":"r","event":"e","data":${'['.repeat(20_000)}${']'.repeat(20_000)}}` },
      400,
      'bad_request',
    ],
    ['a text/plain body', { raw: 'hello', headers: { 'content-type': 'text/plain' } }, 400, 'bad_request'],
  ])('refuses %s', async (_what, input, status, code) => {
    const opts = 'raw' in input ? { raw: input.raw, headers: 'headers' in input ? input.headers : {} } : {};
    const res = await api(b.url, 'POST', '/v1/publish', 'body' in input ? input.body : undefined, opts);
    expect(res.status).toBe(status);
    expect(res.body).toEqual({ ok: false, error: { code, message: expect.any(String) } });
  });

  it('checks the key of every request on one keep-alive connection, not only the first', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const ports = new Set<number>();
    const post = (key: string) =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ room: 'keys', event: 'e', data: null });
        const req = httpRequest(
          `${b.url}/v1/publish`,
          {
            method: 'POST',
            agent,
            headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          },
          (res) => {
            ports.add(res.socket.localPort ?? -1);
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    try {
      expect(await post(API_KEY)).toBe(200);
      // Same length as the valid key, one character off; then another namespace's key.
      expect(await post(`${API_KEY.slice(0, -1)}x`)).toBe(401);
      expect(await post('ops-key-00000001')).toBe(401);
      expect(await post(API_KEY)).toBe(200);
      expect(ports.size).toBe(1);
    } finally {
      agent.destroy();
    }
  });

  it('needs a key valid for the namespace; several keys are valid at once', async () => {
    const body = { room: 'keys', event: 'e', data: null };
    const missing = await api(b.url, 'POST', '/v1/publish', body, { key: null });
    expect(missing).toMatchObject({ status: 401, body: { ok: false, error: { code: 'unauthorized' } } });
    const wrong = await api(b.url, 'POST', '/v1/publish', body, { key: 'test-api-key-0002' });
    expect(wrong).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    const malformed = await api(b.url, 'POST', '/v1/publish', body, {
      key: null,
      headers: { authorization: 'Basic abc' },
    });
    expect(malformed.status).toBe(401);
    const otherNs = await api(b.url, 'POST', '/v1/publish', body, { key: 'ops-key-00000001' });
    expect(otherNs).toMatchObject({ status: 401, body: { error: { code: 'unauthorized' } } });
    const inOps = await api(
      b.url,
      'POST',
      '/v1/publish',
      { ...body, namespace: '/ops' },
      { key: 'ops-key-00000001' },
    );
    expect(inOps).toMatchObject({ status: 200, body: { ok: true } });
  });

  it('accepts every configured key, so keys can rotate', async () => {
    const rotating = await startBroker(
      testConfig({}, { ROOMCAST_API_KEYS: 'old-key-000000001,new-key-000000001' }),
    );
    try {
      for (const key of ['old-key-000000001', 'new-key-000000001']) {
        const res = await api(
          rotating.url,
          'POST',
          '/v1/publish',
          { room: 'r', event: 'e', data: null },
          { key },
        );
        expect(res.status).toBe(200);
      }
      const gone = await api(rotating.url, 'POST', '/v1/publish', { room: 'r', event: 'e', data: null });
      expect(gone.status).toBe(401);
    } finally {
      await rotating.close();
    }
  });

  it('answers unknown routes and methods with a 404 error body', async () => {
    for (const [method, path] of [
      ['GET', '/v1/nothing'],
      ['GET', '/v1/publish'],
      ['DELETE', '/v1/rooms'],
    ]) {
      const res = await api(b.url, method!, path!);
      expect(res).toMatchObject({ status: 404, body: { ok: false, error: { code: 'not_found' } } });
    }
  });
});
