import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import {
  closeClients,
  connect,
  nextEvent,
  type RunningBroker,
  request,
  token,
  until,
} from '../helpers/broker.js';
import { startCluster } from '../helpers/cluster.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { api, closeStreams, isRefusal, openSse, type SseEvent, type SseStreamClient } from './http.js';

// The server API and SSE across three in-process nodes on a real redis-server, with both
// Socket.IO Redis adapters: SSE streams get remote broadcasts through the adapter tap.
describe.each(['sharded', 'classic'])('cluster (%s adapter): API and SSE across nodes', (mode) => {
  let redis: TestRedis;
  let nodes: RunningBroker[];
  let n = 0;
  const next = () => `feed:${mode}:${++n}`;

  beforeAll(async () => {
    redis = await startRedis();
    nodes = await startCluster(3, redis.url, { mode });
  });
  afterEach(() => {
    closeClients();
    closeStreams();
  });
  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.close()));
    await redis.stop();
  });

  async function sse(
    node: RunningBroker,
    query: string,
    headers: Record<string, string> = {},
  ): Promise<SseStreamClient> {
    const s = await openSse(`${node.url}/v1/events?${query}`, headers);
    if (isRefusal(s)) throw new Error(`refused: ${JSON.stringify(s.body)}`);
    return s;
  }
  const note = (data: unknown) => (e: SseEvent) =>
    e.event === 'note' && (JSON.parse(e.data) as Envelope).data === data;

  it('delivers API and socket publishes from other nodes to SSE streams and sockets', async () => {
    const room = next();
    const stream = await sse(nodes[1]!, `room=${room}&token=${token('reader')}`);
    const socket = await connect(nodes[2]!.url, token('sock'));
    expect(await request(socket, 'join', { room })).toMatchObject({ ok: true });
    const got = nextEvent<Envelope>(socket, 'message');
    const res = await api(nodes[0]!.url, 'POST', '/v1/publish', { room, event: 'note', data: 1 });
    expect(res.body).toMatchObject({ ok: true, results: [{ room, offset: 1 }] });
    expect(await got).toMatchObject({ offset: 1, data: 1 });
    expect(JSON.parse((await stream.next(note(1))).data)).toMatchObject({ offset: 1, from: null });
    await request(socket, 'publish', { room, event: 'note', data: 2 });
    expect(JSON.parse((await stream.next(note(2))).data)).toMatchObject({ offset: 2, from: { sub: 'sock' } });
  });

  it('resumes on another node with the Last-Event-ID from the first', async () => {
    const room = next();
    const first = await sse(nodes[0]!, `room=${room}&token=${token('reader')}`);
    await api(nodes[2]!.url, 'POST', '/v1/publish', { room, event: 'note', data: 'a' });
    const last = await first.next(note('a'));
    first.close();
    for (const data of ['b', 'c'])
      await api(nodes[2]!.url, 'POST', '/v1/publish', { room, event: 'note', data });
    const resumed = await sse(nodes[1]!, `room=${room}&token=${token('reader')}`, {
      'last-event-id': last.id!,
    });
    await api(nodes[0]!.url, 'POST', '/v1/publish', { room, event: 'note', data: 'd' });
    await resumed.next(note('d'));
    const seen = resumed.events
      .filter((e) => e.event === 'note')
      .map((e) => (JSON.parse(e.data) as Envelope).data);
    expect(seen).toEqual(['b', 'c', 'd']);
  });

  it('runs an idempotent publish once across nodes', async () => {
    const room = next();
    const stream = await sse(nodes[2]!, `room=${room}&token=${token('reader')}`);
    const body = { room, event: 'note', data: 'once', idempotencyKey: `${room}:k` };
    const replies = await Promise.all(nodes.map((node) => api(node.url, 'POST', '/v1/publish', body)));
    for (const r of replies) expect(r.body).toEqual(replies[0]!.body);
    await api(nodes[0]!.url, 'POST', '/v1/publish', { room, event: 'note', data: 'marker' });
    await stream.next(note('marker'));
    expect(stream.events.filter(note('once'))).toHaveLength(1);
  });

  it('disconnects a user on every node, SSE streams included, and lists presence cluster-wide', async () => {
    const room = next();
    const onA = await connect(nodes[0]!.url, token('zed'));
    await request(onA, 'join', { room });
    const stream = await sse(nodes[1]!, `room=${room}&token=${token('zed')}`);
    const onC = await connect(nodes[2]!.url, token('zed'));
    const presence = await api<{ members: Array<{ sub: string; connections: number }> }>(
      nodes[2]!.url,
      'GET',
      `/v1/rooms/${encodeURIComponent(room)}/presence`,
    );
    expect(presence.body.members).toEqual([expect.objectContaining({ sub: 'zed', connections: 2 })]);
    const closings = [nextEvent(onA, 'closing'), nextEvent(onC, 'closing')];
    const res = await api(nodes[0]!.url, 'POST', '/v1/disconnect', { sub: 'zed' });
    expect(res.body).toEqual({ ok: true, disconnected: 3 });
    await Promise.all(closings);
    const closing = await stream.next((e) => e.event === 'roomcast:closing');
    expect(JSON.parse(closing.data)).toMatchObject({ code: 'disconnected' });
  });
});

describe('cluster: the API while Redis is away', () => {
  let redis: TestRedis;
  let node: RunningBroker;
  beforeAll(async () => {
    redis = await startRedis();
    [node] = (await startCluster(1, redis.url)) as [RunningBroker];
  });
  afterAll(async () => {
    await node.close();
    await redis.stop();
  });

  it('refuses publishes with 503 unavailable, then publishes again once Redis is back', async () => {
    await redis.kill();
    await until(async () => (await fetch(`${node.url}/readyz`)).status === 503, 5000, '/readyz 503');
    const one = await api(node.url, 'POST', '/v1/publish', {
      room: 'away',
      event: 'e',
      data: null,
      idempotencyKey: 'away-1',
    });
    expect(one).toMatchObject({ status: 503, body: { ok: false, error: { code: 'unavailable' } } });
    const batch = await api(node.url, 'POST', '/v1/batch', {
      messages: [{ room: 'away', event: 'e', data: null }],
    });
    expect(batch).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
    await redis.restart();
    await until(async () => (await fetch(`${node.url}/readyz`)).status === 200, 10_000, '/readyz 200');
    // The refused idempotent publish was not remembered: its retry runs.
    const retry = await api(node.url, 'POST', '/v1/publish', {
      room: 'away',
      event: 'e',
      data: null,
      idempotencyKey: 'away-1',
    });
    expect(retry).toMatchObject({ status: 200, body: { ok: true, results: [{ room: 'away', offset: 1 }] } });
  });
});
