import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope, Member, RoomStat } from '../../src/protocol.js';
import {
  closeClients,
  connect,
  nextEvent,
  type RunningBroker,
  request,
  startBroker,
  testConfig,
  token,
} from '../helpers/broker.js';
import { api } from './http.js';

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker(testConfig({ namespaces: { '/': { presence: ['q:*', 'chat/*'] } } }));
});
afterEach(() => closeClients());
afterAll(() => b.close());

describe('GET /v1/rooms', () => {
  it('lists rooms with members and connections, filtered by prefix', async () => {
    const alice = await connect(b.url, token('alice'));
    const alice2 = await connect(b.url, token('alice'));
    const bob = await connect(b.url, token('bob'));
    for (const s of [alice, alice2, bob]) await request(s, 'join', { room: 'q:list' });
    await request(bob, 'join', { room: 'other:list' });
    const res = await api<{ rooms: RoomStat[] }>(b.url, 'GET', '/v1/rooms?prefix=q:');
    expect(res.status).toBe(200);
    expect(res.body.rooms).toEqual([{ room: 'q:list', members: 2, connections: 3 }]);
    const all = await api<{ rooms: RoomStat[] }>(b.url, 'GET', '/v1/rooms?namespace=%2F');
    expect(all.body.rooms?.map((r) => r.room)).toEqual(expect.arrayContaining(['q:list', 'other:list']));
  });

  it('refuses an unknown namespace, a missing key and a repeated prefix', async () => {
    expect((await api(b.url, 'GET', '/v1/rooms?namespace=/x')).status).toBe(404);
    expect((await api(b.url, 'GET', '/v1/rooms', undefined, { key: null })).status).toBe(401);
    const twice = await api(b.url, 'GET', '/v1/rooms?prefix=a&prefix=b');
    expect(twice).toMatchObject({ status: 400, body: { error: { code: 'bad_request' } } });
    // Names an object inherits are not namespaces either.
    for (const ns of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const res = await api(b.url, 'GET', `/v1/rooms?namespace=${ns}`);
      expect(res, ns).toMatchObject({ status: 404, body: { ok: false, error: { code: 'not_found' } } });
    }
  });
});

describe('GET /v1/rooms/:room/presence', () => {
  it('answers members of a URL-encoded room', async () => {
    const alice = await connect(b.url, token('alice', undefined, { info: { name: 'Alice' } }));
    await request(alice, 'join', { room: 'chat/main' });
    const res = await api<{ members: Member[] }>(b.url, 'GET', '/v1/rooms/chat%2Fmain/presence');
    expect(res.status).toBe(200);
    expect(res.body.members).toEqual([{ sub: 'alice', info: { name: 'Alice' }, connections: 1 }]);
  });

  it('maps room and presence errors', async () => {
    const invalid = await api(b.url, 'GET', '/v1/rooms/bad%20room/presence');
    expect(invalid).toMatchObject({ status: 400, body: { error: { code: 'invalid_room' } } });
    const off = await api(b.url, 'GET', '/v1/rooms/nopresence/presence');
    expect(off).toMatchObject({ status: 403, body: { error: { code: 'forbidden' } } });
  });

  it('takes a room name of the full 200 characters in the path, encoded or not', async () => {
    const room = `q:${'a'.repeat(198)}`;
    const plain = await api<{ members: Member[] }>(b.url, 'GET', `/v1/rooms/${room}/presence`);
    expect(plain).toMatchObject({ status: 200, body: { ok: true, members: [] } });
    const slashes = `chat:${'a/'.repeat(97)}`; // 199 characters; the path carries 393 (%3A, %2F)
    const encoded = await api(b.url, 'GET', `/v1/rooms/${encodeURIComponent(slashes)}/history`);
    expect(encoded).toMatchObject({ status: 200, body: { ok: true, offset: 0 } });
    const tooLong = await api(b.url, 'GET', `/v1/rooms/q:${'a'.repeat(199)}/history`);
    expect(tooLong).toMatchObject({ status: 400, body: { ok: false, error: { code: 'invalid_room' } } });
  });

  it.each(['%', '%ZZ', '%FF', '%C0%AF', '%ED%A0%80'])(
    'answers a path with bad percent-encoding (%s) in the contract shape',
    async (bad) => {
      const res = await api(b.url, 'GET', `/v1/rooms/${bad}/history`);
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ ok: false, error: { code: 'bad_request', message: expect.any(String) } });
    },
  );
});

describe('GET /v1/rooms/:room/history', () => {
  it('answers the latest messages, or those after since+epoch, bounded by limit', async () => {
    for (let i = 1; i <= 5; i++)
      await api(b.url, 'POST', '/v1/publish', { room: 'q:hist', event: 'e', data: i });
    const latest = await api<{ messages: Envelope[]; offset: number; epoch: string }>(
      b.url,
      'GET',
      '/v1/rooms/q%3Ahist/history?limit=2',
    );
    expect(latest.body).toMatchObject({ ok: true, offset: 5 });
    expect(latest.body.messages?.map((m) => m.data)).toEqual([4, 5]);
    const epoch = latest.body.epoch!;
    const since = await api<{ messages: Envelope[] }>(
      b.url,
      'GET',
      `/v1/rooms/q:hist/history?since=2&epoch=${epoch}`,
    );
    expect(since.body).toMatchObject({ ok: true, recovered: true });
    expect(since.body.messages?.map((m) => m.offset)).toEqual([3, 4, 5]);
    const current = await api<{ messages: Envelope[] }>(
      b.url,
      'GET',
      '/v1/rooms/q:hist/history?since=3&limit=1',
    );
    expect(current.body).toMatchObject({ ok: true, recovered: true, offset: 5 });
    expect(current.body.messages?.map((m) => m.offset)).toEqual([4]);
    const stale = await api(b.url, 'GET', '/v1/rooms/q:hist/history?since=2&epoch=other');
    expect(stale.body).toMatchObject({ ok: true, recovered: false, messages: [] });
  });

  it('reads empty query parameters as absent (the templates `?namespace=&since=&limit=`)', async () => {
    const fresh = await api<{ messages: Envelope[]; offset: number; epoch: string }>(
      b.url,
      'GET',
      '/v1/rooms/q%3Ablank/history?namespace=&since=&epoch=&limit=',
    );
    expect(fresh).toMatchObject({ status: 200, body: { ok: true, offset: 0, epoch: '', messages: [] } });
    for (let i = 1; i <= 3; i++)
      await api(b.url, 'POST', '/v1/publish', { room: 'q:blank', event: 'e', data: i });
    // What a read of a room with no state gave (offset 0, epoch "") asks for all that came after.
    const after = await api<{ messages: Envelope[] }>(
      b.url,
      'GET',
      `/v1/rooms/q%3Ablank/history?namespace=&since=${fresh.body.offset}&epoch=${fresh.body.epoch}&limit=`,
    );
    expect(after.body).toMatchObject({ ok: true, offset: 3, recovered: true });
    expect(after.body.messages?.map((m) => m.data)).toEqual([1, 2, 3]);
    const rooms = await api<{ rooms: RoomStat[] }>(b.url, 'GET', '/v1/rooms?namespace=&prefix=');
    expect(rooms.status).toBe(200);
    const presence = await api(b.url, 'GET', '/v1/rooms/q%3Ablank/presence?namespace=');
    expect(presence).toMatchObject({ status: 200, body: { ok: true, members: [] } });
    // A value that is there is still checked.
    expect((await api(b.url, 'GET', '/v1/rooms/q%3Ablank/history?limit=%20')).status).toBe(400);
  });

  it.each([
    ['epoch without since', '?epoch=e'],
    ['a negative limit', '?limit=-1'],
    ['a word as since', '?since=abc&epoch=e'],
  ])('refuses %s', async (_what, query) => {
    const res = await api(b.url, 'GET', `/v1/rooms/q:hist/history${query}`);
    expect(res).toMatchObject({ status: 400, body: { ok: false, error: { code: 'bad_request' } } });
  });
});

describe('POST /v1/disconnect', () => {
  it('closes every connection of the user, each told why first', async () => {
    const a1 = await connect(b.url, token('dave'));
    const a2 = await connect(b.url, token('dave'));
    const other = await connect(b.url, token('erin'));
    const closings = [a1, a2].map((s) => nextEvent<{ code: string }>(s, 'closing'));
    const gone = [a1, a2].map((s) => nextEvent(s, 'disconnect'));
    const res = await api(b.url, 'POST', '/v1/disconnect', { sub: 'dave' });
    expect(res.body).toEqual({ ok: true, disconnected: 2 });
    for (const c of await Promise.all(closings)) expect(c).toMatchObject({ code: 'disconnected' });
    await Promise.all(gone);
    expect(other.connected).toBe(true);
    const none = await api(b.url, 'POST', '/v1/disconnect', { sub: 'dave' });
    expect(none.body).toEqual({ ok: true, disconnected: 0 });
  });

  it('refuses a missing sub and an unknown field', async () => {
    expect((await api(b.url, 'POST', '/v1/disconnect', {})).status).toBe(400);
    expect((await api(b.url, 'POST', '/v1/disconnect', { sub: 'x', all: true })).status).toBe(400);
  });
});

describe('documents and health', () => {
  it('serves the OpenAPI document, /healthz and /readyz without a key', async () => {
    const doc = await api<{ openapi: string; paths: Record<string, unknown> }>(
      b.url,
      'GET',
      '/v1/openapi.json',
      undefined,
      {
        key: null,
      },
    );
    expect(doc.body.openapi).toBe('3.1.0');
    expect(Object.keys(doc.body.paths ?? {})).toEqual(
      expect.arrayContaining(['/v1/publish', '/v1/batch', '/v1/rooms/{room}/history', '/v1/events']),
    );
    // docs/openapi.json is the same document (regenerate: npm run build && node scripts/openapi.mjs).
    const committed = JSON.parse(
      readFileSync(resolve(import.meta.dirname, '../../docs/openapi.json'), 'utf8'),
    );
    expect(doc.body).toEqual(committed);
    expect((await api(b.url, 'GET', '/healthz', undefined, { key: null })).status).toBe(200);
    expect((await api(b.url, 'GET', '/readyz', undefined, { key: null })).status).toBe(200);
  });
});
