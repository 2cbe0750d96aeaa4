import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import { api } from '../api/http.js';
import {
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

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker(testConfig({ api: { idempotencyWindowMs: 60_000 } }));
});
afterEach(() => closeClients());
afterAll(() => b.close());

/** A member of `room` that records every message it gets. */
async function watcher(room: string) {
  const socket = await connect(b.url, token('watcher'));
  expect(await request(socket, 'join', { room })).toMatchObject({ ok: true });
  return collect<Envelope>(socket, 'message');
}

describe('socket publish with idempotencyKey', () => {
  it('a repeat of the key gets the first offset and delivers nothing', async () => {
    const seen = await watcher('idem:a');
    const alice = await connect(b.url, token('alice'));
    const msg = { room: 'idem:a', event: 'e', data: { n: 1 }, idempotencyKey: 'k-1' };
    const first = await request(alice, 'publish', msg);
    expect(first).toEqual({ ok: true, offset: 1, epoch: expect.any(String) });
    // The same key again, from a member of the room that is another user, with another body and echo.
    const bob = await connect(b.url, token('bob'));
    await request(bob, 'join', { room: 'idem:a' });
    const echoed = collect<Envelope>(bob, 'message');
    const after = nextEvent<Envelope>(bob, 'message');
    const again = await request(bob, 'publish', { ...msg, data: { n: 2 }, echo: true });
    expect(again).toEqual(first);
    // A publish after it shows the repeat took no offset, and is the only other delivery.
    expect(await request(alice, 'publish', { room: 'idem:a', event: 'e', data: 3 })).toMatchObject({
      offset: 2,
    });
    expect((await after).offset).toBe(2);
    await until(() => seen.length === 2, 2000, 'two deliveries');
    expect(seen.map((m) => [m.offset, m.data])).toEqual([
      [1, { n: 1 }],
      [2, 3],
    ]);
    expect(echoed.map((m) => m.offset)).toEqual([2]);
    const history = await request<{ messages: Envelope[] }>(alice, 'history', { room: 'idem:a' });
    expect(history.messages?.map((m) => m.data)).toEqual([{ n: 1 }, 3]);
  });

  it('concurrent repeats publish once', async () => {
    const seen = await watcher('idem:b');
    const alice = await connect(b.url, token('alice'));
    const msg = { room: 'idem:b', event: 'e', data: 'x', idempotencyKey: 'same' };
    const replies = await Promise.all([1, 2, 3, 4].map(() => request(alice, 'publish', msg)));
    expect(new Set(replies.map((r) => r.offset))).toEqual(new Set([1]));
    await request(alice, 'publish', { room: 'idem:b', event: 'e', data: 'next' });
    await until(() => seen.length === 2, 2000, 'two deliveries');
    expect(seen.map((m) => m.data)).toEqual(['x', 'next']);
  });

  it('is the namespace’s: the key again for another room gets the first result and delivers nothing', async () => {
    const other = await watcher('idem:c2');
    const alice = await connect(b.url, token('alice'));
    const key = { event: 'e', data: 1, idempotencyKey: 'shared' };
    await request(alice, 'publish', { room: 'idem:c0', event: 'e', data: 0 });
    const first = await request(alice, 'publish', { room: 'idem:c1', ...key });
    expect(first).toEqual({ ok: true, offset: 1, epoch: expect.any(String) });
    // The socket ack of a repeat is the first result, exactly.
    expect(await request(alice, 'publish', { room: 'idem:c2', ...key })).toEqual(first);
    const http = await api<{ results: unknown[] }>(b.url, 'POST', '/v1/publish', { room: 'idem:c2', ...key });
    expect(http.body.results).toEqual([{ room: 'idem:c1', offset: first.offset, epoch: first.epoch }]);
    // idem:c2 got nothing: its first message takes offset 1.
    expect(await request(alice, 'publish', { room: 'idem:c2', event: 'e', data: 'plain' })).toMatchObject({
      offset: 1,
    });
    await until(() => other.length === 1, 2000, 'the plain message');
    expect(other.map((m) => m.data)).toEqual(['plain']);
    // Publishes without a key are never deduplicated.
    const plain = { room: 'idem:c1', event: 'e', data: 1 };
    expect(await request(alice, 'publish', plain)).toMatchObject({ offset: 2 });
    expect(await request(alice, 'publish', plain)).toMatchObject({ offset: 3 });
  });

  it('in a batch, the first message of a key in batch order is the one published', async () => {
    // m1 waits behind m0 (same room); m2 has another room and would start at once.
    const res = await api<{ results: Array<{ room: string; offset: number }> }>(b.url, 'POST', '/v1/batch', {
      messages: [
        { room: 'idem:o1', event: 'e', data: 0 },
        { room: 'idem:o1', event: 'e', data: 1, idempotencyKey: 'order-k' },
        { room: 'idem:o2', event: 'e', data: 2, idempotencyKey: 'order-k' },
      ],
    });
    expect(res.body.results?.map((r) => [r.room, r.offset])).toEqual([
      ['idem:o1', 1],
      ['idem:o1', 2],
      ['idem:o1', 2],
    ]);
    const other = await api<{ messages: unknown[] }>(b.url, 'GET', '/v1/rooms/idem%3Ao2/history');
    expect(other.body.messages).toEqual([]);
  });

  it('over HTTP, a key with rooms[] publishes to each room once, and a repeat gets the same results', async () => {
    const body = { rooms: ['idem:m1', 'idem:m2'], event: 'e', data: 1, idempotencyKey: 'multi' };
    const first = await api<{ results: Array<{ room: string; offset: number }> }>(
      b.url,
      'POST',
      '/v1/publish',
      body,
    );
    expect(first.body.results?.map((r) => [r.room, r.offset])).toEqual([
      ['idem:m1', 1],
      ['idem:m2', 1],
    ]);
    const again = await api(b.url, 'POST', '/v1/publish', body);
    expect(again.body).toEqual(first.body);
  });

  it('shares its keys with the HTTP API', async () => {
    const body = { room: 'idem:e', event: 'e', data: 1, idempotencyKey: 'from-either' };
    const http = await api<{ results: Array<{ offset: number }> }>(b.url, 'POST', '/v1/publish', body);
    expect(http.body.results?.[0]?.offset).toBe(1);
    const alice = await connect(b.url, token('alice'));
    expect(await request(alice, 'publish', body)).toMatchObject({ ok: true, offset: 1 });
  });

  it('a refused publish is not remembered: its retry runs', async () => {
    const noRight = await connect(b.url, token('carol', { subscribe: ['*'], publish: [] }));
    const msg = { room: 'idem:d', event: 'e', data: 1, idempotencyKey: 'retry-me' };
    expect(await request(noRight, 'publish', msg)).toMatchObject({ ok: false, error: { code: 'forbidden' } });
    const alice = await connect(b.url, token('alice'));
    expect(await request(alice, 'publish', msg)).toMatchObject({ ok: true, offset: 1 });
  });
});
