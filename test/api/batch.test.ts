import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import {
  closeClients,
  collect,
  connect,
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
  b = await startBroker(testConfig({ api: { maxBatchMessages: 5 } }));
});
afterEach(() => closeClients());
afterAll(() => b.close());

async function watch(room: string) {
  const socket = await connect(b.url, token('watcher'));
  expect(await request(socket, 'join', { room })).toMatchObject({ ok: true });
  return collect<Envelope>(socket, 'message');
}

describe('POST /v1/batch', () => {
  it('publishes in order per room and answers in batch order', async () => {
    const a = await watch('batch:a');
    const messages = [
      { room: 'batch:a', event: 'e', data: 1 },
      { room: 'batch:b', event: 'e', data: 2 },
      { room: 'batch:a', event: 'e', data: 3 },
      { rooms: ['batch:a', 'batch:c'], event: 'e', data: 4 },
    ];
    const res = await api(b.url, 'POST', '/v1/batch', { messages });
    expect(res.status).toBe(200);
    expect(res.body.results).toMatchObject([
      { room: 'batch:a', offset: 1 },
      { room: 'batch:b', offset: 1 },
      { room: 'batch:a', offset: 2 },
      { room: 'batch:a', offset: 3 },
      { room: 'batch:c', offset: 1 },
    ]);
    await until(() => a.length === 3, 2000, 'three messages');
    expect(a.map((m) => [m.offset, m.data])).toEqual([
      [1, 1],
      [2, 3],
      [3, 4],
    ]);
  });

  it('refuses the whole batch when one message is bad, and publishes none of it', async () => {
    const bad = await api(b.url, 'POST', '/v1/batch', {
      messages: [
        { room: 'batch:none', event: 'e', data: null },
        { room: 'bad room', event: 'e', data: null },
      ],
    });
    expect(bad).toMatchObject({ status: 400, body: { ok: false, error: { code: 'invalid_room' } } });
    expect(bad.body.error?.message).toMatch(/^messages\.1/);
    const long = await api(b.url, 'POST', '/v1/batch', {
      messages: [{ room: 'r'.repeat(1001), event: 'e', data: null }],
    });
    expect(long).toMatchObject({ status: 400, body: { ok: false, error: { code: 'invalid_room' } } });
    const history = await api(b.url, 'GET', '/v1/rooms/batch%3Anone/history');
    expect(history.body).toMatchObject({ ok: true, offset: 0, messages: [] });
  });

  it.each([
    ['no messages', { messages: [] }],
    [
      'too many messages',
      { messages: Array.from({ length: 6 }, () => ({ room: 'r', event: 'e', data: null })) },
    ],
    ['messages not an array', { messages: { room: 'r' } }],
    ['a message of the wrong shape', { messages: [{ room: 'r', event: 1 }] }],
    ['an unknown field', { messages: [{ room: 'r', event: 'e', data: null }], extra: true }],
  ])('refuses %s with 400', async (_what, body) => {
    const res = await api(b.url, 'POST', '/v1/batch', body);
    expect(res).toMatchObject({ status: 400, body: { ok: false, error: { code: 'bad_request' } } });
  });
});

describe('idempotent publish', () => {
  it('returns the first result for a repeat and delivers once', async () => {
    const seen = await watch('idem:1');
    const body = { room: 'idem:1', event: 'e', data: 'x', idempotencyKey: 'order-1' };
    const first = await api(b.url, 'POST', '/v1/publish', body);
    const second = await api(b.url, 'POST', '/v1/publish', body);
    expect(second.body).toEqual(first.body);
    await api(b.url, 'POST', '/v1/publish', { room: 'idem:1', event: 'marker', data: null });
    await until(() => seen.some((m) => m.event === 'marker'), 2000, 'marker');
    expect(seen.filter((m) => m.event === 'e')).toHaveLength(1);
  });

  it('runs concurrent repeats once', async () => {
    const seen = await watch('idem:2');
    const body = { room: 'idem:2', event: 'e', data: null, idempotencyKey: 'order-2' };
    const replies = await Promise.all(
      Array.from({ length: 8 }, () => api(b.url, 'POST', '/v1/publish', body)),
    );
    expect(new Set(replies.map((r) => JSON.stringify(r.body))).size).toBe(1);
    expect(replies[0]!.body).toMatchObject({ ok: true, results: [{ offset: 1 }] });
    await api(b.url, 'POST', '/v1/publish', { room: 'idem:2', event: 'marker', data: null });
    await until(() => seen.some((m) => m.event === 'marker'), 2000, 'marker');
    expect(seen.filter((m) => m.event === 'e')).toHaveLength(1);
  });

  it('applies per message in a batch, and keys are per namespace', async () => {
    const seen = await watch('idem:3');
    const messages = [
      { room: 'idem:3', event: 'e', data: 1, idempotencyKey: 'm-1' },
      { room: 'idem:3', event: 'e', data: 2, idempotencyKey: 'm-2' },
    ];
    const first = await api(b.url, 'POST', '/v1/batch', { messages });
    const retry = await api(b.url, 'POST', '/v1/batch', {
      messages: [...messages, { room: 'idem:3', event: 'e', data: 3, idempotencyKey: 'm-3' }],
    });
    expect(retry.body.results).toEqual([
      ...(first.body.results as unknown[]),
      expect.objectContaining({ offset: 3 }),
    ]);
    await until(() => seen.length === 3, 2000, 'three messages');
    expect(seen.map((m) => m.data)).toEqual([1, 2, 3]);
  });
});
