import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import { api, closeStreams, isRefusal, openSse } from '../api/http.js';
import {
  closeClients,
  connect,
  type RunningBroker,
  request,
  startBroker,
  testConfig,
  token,
} from '../helpers/broker.js';
import { startCluster } from '../helpers/cluster.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

interface Reply {
  ok: boolean;
  offset: number;
  epoch: string;
  recovered?: boolean;
  messages: Envelope[];
}

/** Binary parts of a message as the test publishes them: `parts` Buffers under `b0`, `b1`, ... */
function parts(data: unknown): number {
  return Object.values(data as Record<string, unknown>).filter(
    (v) => v instanceof ArrayBuffer || ArrayBuffer.isView(v),
  ).length;
}

// Socket.IO's decoder (socket.io-client's too) refuses a packet with more than 10 binary
// attachments and drops the connection: a reply that replays binary messages must stay within it.
describe.each(['one node', 'two nodes over Redis'])('replies that replay binary messages (%s)', (mode) => {
  let nodes: RunningBroker[] = [];
  let redis: TestRedis | undefined;
  beforeAll(async () => {
    const config = { namespaces: { '/': { limits: { eventsPerSecond: 10_000 } } } };
    if (mode === 'one node') nodes = [await startBroker(testConfig(config))];
    else {
      redis = await startRedis();
      nodes = await startCluster(2, redis.url, {}, config);
    }
  });
  afterAll(async () => {
    closeClients();
    closeStreams();
    await Promise.all(nodes.map((n) => n.close()));
    await redis?.stop();
  });

  /** Publishes messages of `sizes[i]` binary parts (0: a JSON one) to `room`; returns its epoch. */
  async function publish(room: string, sizes: number[]): Promise<string> {
    const pub = await connect(nodes[0]!.url, token('pub'));
    let epoch = '';
    for (const [i, n] of sizes.entries()) {
      const data: Record<string, unknown> = { i };
      for (let k = 0; k < n; k++) data[`b${k}`] = Buffer.from([i, k]);
      const ack = await request<{ epoch: string }>(pub, 'publish', { room, event: 'n', data });
      expect(ack.ok).toBe(true);
      epoch = ack.epoch!;
    }
    return epoch;
  }

  it('history stops before the message that would pass 10 parts, and pages on from there', async () => {
    // 3 + 4 + 0 + 3 = 10 parts fit; the next 2 would make 12.
    const epoch = await publish('bin:h', [3, 4, 0, 3, 2, 5, 1]);
    const c = await connect(nodes.at(-1)!.url, token('reader'));
    const first = await request<Reply>(c, 'history', { room: 'bin:h' });
    expect(first).toMatchObject({ ok: true, offset: 7, epoch });
    expect(first.messages!.map((m) => m.offset)).toEqual([1, 2, 3, 4]);
    expect(first.messages!.map((m) => parts(m.data))).toEqual([3, 4, 0, 3]);
    const b0 = (first.messages![3]!.data as { b0: ArrayBuffer }).b0;
    expect([...new Uint8Array(b0)]).toEqual([3, 0]);
    const rest = await request<Reply>(c, 'history', { room: 'bin:h', since: { offset: 4, epoch } });
    expect(rest.messages!.map((m) => m.offset)).toEqual([5, 6, 7]);
    expect(c.connected).toBe(true);
  });

  it('join with since answers what fits, recovered, with the room offset to go on from', async () => {
    const epoch = await publish('bin:j', [6, 6, 6]);
    const c = await connect(nodes.at(-1)!.url, token('joiner'));
    const reply = await request<Reply>(c, 'join', { room: 'bin:j', since: { offset: 0, epoch } });
    expect(reply).toMatchObject({ ok: true, offset: 3, epoch, recovered: true });
    expect(reply.messages!.map((m) => m.offset)).toEqual([1]);
    const rest = await request<Reply>(c, 'history', { room: 'bin:j', since: { offset: 1, epoch } });
    expect(rest.messages!.map((m) => m.offset)).toEqual([2]);
    expect(c.connected).toBe(true);
  });

  it('closes the connection of a publish with more than 10 parts (Socket.IO refuses the packet); others go on', async () => {
    const other = await connect(nodes[0]!.url, token('bystander'));
    const c = await connect(nodes[0]!.url, token('eleven'));
    const closed = new Promise<string>((resolve) => c.once('disconnect', resolve));
    const data = Object.fromEntries(Array.from({ length: 11 }, (_, k) => [`b${k}`, Buffer.from([k])]));
    c.emit('publish', { room: 'bin:x', event: 'n', data }, () => undefined);
    expect(await closed).toMatch(/transport close|parse error/);
    expect(await request(other, 'history', { room: 'bin:x' })).toMatchObject({ ok: true, messages: [] });
  });

  it('writes a binary part as Node writes a Buffer where the message leaves as JSON (HTTP history, SSE)', async () => {
    const node = nodes.at(-1)!;
    const sse = await openSse(`${node.url}/v1/events?room=bin:json&token=${token('sse')}`);
    if (isRefusal(sse)) throw new Error(`SSE refused: ${JSON.stringify(sse.body)}`);
    await publish('bin:json', [2]);
    const asJson = { i: 0, b0: { type: 'Buffer', data: [0, 0] }, b1: { type: 'Buffer', data: [0, 1] } };
    const live = await sse.next((e) => e.event === 'n');
    expect(JSON.parse(live.data).data).toEqual(asJson);
    const read = await api<{ messages: Envelope[] }>(node.url, 'GET', '/v1/rooms/bin%3Ajson/history');
    expect(read.status).toBe(200);
    expect(read.body.messages!.map((m) => m.data)).toEqual([asJson]);
    // A reader that resumes gets the same from history.
    const resumed = await openSse(`${node.url}/v1/events?room=bin:json&token=${token('sse')}`, {
      'last-event-id': sse.lastEventId.replace(/1$/, '0'),
    });
    if (isRefusal(resumed)) throw new Error(`SSE refused: ${JSON.stringify(resumed.body)}`);
    expect(JSON.parse((await resumed.next((e) => e.event === 'n')).data).data).toEqual(asJson);
  });

  it('leaves replies of JSON messages whole, and a publish of 10 parts is accepted', async () => {
    const epoch = await publish('bin:w', [0, 0, 0, 10, 0]);
    const c = await connect(nodes.at(-1)!.url, token('whole'));
    const reply = await request<Reply>(c, 'join', { room: 'bin:w', since: { offset: 0, epoch } });
    expect(reply.messages!.map((m) => m.offset)).toEqual([1, 2, 3, 4, 5]);
  });
});

// One reply bigger than limits.sendQueueBytes closes the connection that asked for it as a slow
// consumer, every time it asks: replies stop at half of it, and the client pages on.
describe('replies that replay more bytes than the send queue holds', () => {
  let b: RunningBroker;
  beforeAll(async () => {
    b = await startBroker(
      testConfig({
        limits: { sendQueueBytes: 262_144 },
        namespaces: { '/': { limits: { eventsPerSecond: 10_000 } } },
      }),
    );
  });
  afterAll(async () => {
    closeClients();
    await b.close();
  });

  it('join and history stop within half the send queue, and the rest comes page by page', async () => {
    const pub = await connect(b.url, token('pub'));
    let epoch = '';
    for (let i = 1; i <= 12; i++) {
      const ack = await request<{ epoch: string }>(pub, 'publish', {
        room: 'big:r',
        event: 'n',
        data: { i, text: 'x'.repeat(30_000) },
      });
      epoch = ack.epoch!;
    }
    const c = await connect(b.url, token('reader'));
    const closing: unknown[] = [];
    c.on('closing', (e: unknown) => closing.push(e));
    const reply = await request<Reply>(c, 'join', { room: 'big:r', since: { offset: 0, epoch } });
    expect(reply).toMatchObject({ ok: true, offset: 12, recovered: true });
    // 131,072 bytes at most: 4 messages of about 30 KB.
    expect(reply.messages!.map((m) => m.offset)).toEqual([1, 2, 3, 4]);
    const seen = reply.messages!.map((m) => m.offset);
    while (seen.length < 12) {
      const page = await request<Reply>(c, 'history', {
        room: 'big:r',
        since: { offset: seen.at(-1)!, epoch },
      });
      expect(page.ok).toBe(true);
      expect(page.messages!.length).toBeGreaterThan(0);
      expect(page.messages!.length).toBeLessThanOrEqual(4);
      seen.push(...page.messages!.map((m) => m.offset));
    }
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(c.connected).toBe(true);
    expect(closing).toEqual([]);
  });
});
