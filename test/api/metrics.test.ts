import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createBroker } from '../../src/broker/create-broker.js';
import type { Envelope } from '../../src/protocol.js';
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
import { api, closeStreams, isRefusal, openSse, rawHttp } from './http.js';

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker();
});
afterEach(() => {
  closeClients();
  closeStreams();
});
afterAll(() => b.close());

type Samples = Map<string, number>;

/** Parses the Prometheus text format strictly: every line is a comment or `name{labels} value`. */
async function scrape(): Promise<Samples> {
  const res = await fetch(`${b.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  const samples: Samples = new Map();
  for (const line of (await res.text()).split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|[Nn]a[Nn]|\+Inf|-Inf)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    samples.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return samples;
}

const value = (s: Samples, key: string) => s.get(key) ?? 0;

/** Waits until /metrics counts no socket on long-polling. */
const noPolling = (what: string) =>
  until(
    async () => value(await scrape(), 'roomcast_connections{namespace="/",transport="polling"}') === 0,
    5000,
    what,
  );

describe('GET /metrics', () => {
  it('parses and has the process defaults in a registry of its own', async () => {
    const s = await scrape();
    expect(s.has('process_cpu_user_seconds_total')).toBe(true);
    expect(value(s, 'roomcast_redis_connected{mode="memory"}')).toBe(1);
  });

  it('moves with connections, joins, publishes, deliveries by transport and API requests', async () => {
    const before = await scrape();
    const ws = await connect(b.url, token('ws'));
    const poll = await connect(b.url, token('poll'), { transports: ['polling'] });
    for (const s of [ws, poll]) expect(await request(s, 'join', { room: 'm:1' })).toMatchObject({ ok: true });
    const sse = await openSse(`${b.url}/v1/events?room=m:1&token=${token('sse')}`);
    if (isRefusal(sse)) throw new Error('refused');
    const got = [nextEvent<Envelope>(ws, 'message'), nextEvent<Envelope>(poll, 'message')];
    await api(b.url, 'POST', '/v1/publish', { room: 'm:1', event: 'e', data: 1 });
    await Promise.all(got);
    await sse.next((e) => e.event === 'e');
    // A socket publish without echo is not delivered to its sender.
    const pollGot = nextEvent(poll, 'message');
    await request(ws, 'publish', { room: 'm:1', event: 'f', data: 2 });
    await pollGot;
    await sse.next((e) => e.event === 'f');

    const after = await scrape();
    const delta = (key: string) => value(after, key) - value(before, key);
    expect(value(after, 'roomcast_connections{namespace="/",transport="websocket"}')).toBe(1);
    expect(value(after, 'roomcast_connections{namespace="/",transport="polling"}')).toBe(1);
    expect(value(after, 'roomcast_connections{namespace="/",transport="sse"}')).toBe(1);
    expect(value(after, 'roomcast_rooms{namespace="/"}')).toBeGreaterThanOrEqual(1);
    expect(delta('roomcast_joins_total{namespace="/"}')).toBe(3);
    expect(delta('roomcast_messages_published_total{namespace="/",source="api"}')).toBe(1);
    expect(delta('roomcast_messages_published_total{namespace="/",source="socket"}')).toBe(1);
    expect(delta('roomcast_messages_delivered_total{namespace="/",transport="websocket"}')).toBe(1);
    expect(delta('roomcast_messages_delivered_total{namespace="/",transport="polling"}')).toBe(2);
    expect(delta('roomcast_messages_delivered_total{namespace="/",transport="sse"}')).toBe(2);
    expect(delta('roomcast_publish_duration_seconds_count{source="api"}')).toBe(1);
    expect(delta('roomcast_api_requests_total{method="POST",route="/v1/publish",status="200"}')).toBe(1);

    await api(b.url, 'POST', '/v1/publish', { room: 'm:1', event: 'e', data: null }, { key: 'nope' });
    await api(b.url, 'GET', '/v1/missing');
    const last = await scrape();
    expect(value(last, 'roomcast_api_requests_total{method="POST",route="/v1/publish",status="401"}')).toBe(
      1,
    );
    expect(value(last, 'roomcast_api_requests_total{method="GET",route="unmatched",status="404"}')).toBe(1);
  });

  it('does not count the sender of a publish without echo when no socket polls', async () => {
    const a = await connect(b.url, token('wsa'));
    const c = await connect(b.url, token('wsc'));
    for (const s of [a, c]) expect(await request(s, 'join', { room: 'm:ws' })).toMatchObject({ ok: true });
    await noPolling('no polling connection left from earlier tests');
    const before = await scrape();
    const got = nextEvent(c, 'message');
    expect(await request(a, 'publish', { room: 'm:ws', event: 'e', data: 1 })).toMatchObject({ ok: true });
    await got;
    const after = await scrape();
    const delta = (key: string) => value(after, key) - value(before, key);
    expect(delta('roomcast_messages_delivered_total{namespace="/",transport="websocket"}')).toBe(1);
    expect(delta('roomcast_messages_delivered_total{namespace="/",transport="polling"}')).toBe(0);
  });

  it('does not count a polling sender of a publish without echo, and counts every member when it is not one', async () => {
    const sender = await connect(b.url, token('polla'), { transports: ['polling'] });
    const other = await connect(b.url, token('pollc'), { transports: ['polling'] });
    const outsider = await connect(b.url, token('pollo'), { transports: ['polling'] });
    const ws = await connect(b.url, token('wsd'));
    for (const s of [sender, other, ws])
      expect(await request(s, 'join', { room: 'm:poll' })).toMatchObject({ ok: true });
    const own = collect<Envelope>(sender, 'message');
    const otherGot = collect<Envelope>(other, 'message');
    const wsGot = collect<Envelope>(ws, 'message');
    const count = async (publisher: typeof sender, expected: number) => {
      const before = await scrape();
      expect(await request(publisher, 'publish', { room: 'm:poll', event: 'e', data: 1 })).toMatchObject({
        ok: true,
      });
      await until(() => otherGot.length === expected && wsGot.length === expected, 5000, 'deliveries');
      const after = await scrape();
      const delta = (key: string) => value(after, key) - value(before, key);
      return {
        polling: delta('roomcast_messages_delivered_total{namespace="/",transport="polling"}'),
        websocket: delta('roomcast_messages_delivered_total{namespace="/",transport="websocket"}'),
      };
    };
    // The sender is a member: left out of the delivery and of the count.
    expect(await count(sender, 1)).toEqual({ polling: 1, websocket: 1 });
    // A publisher outside the room: every member gets it and is counted.
    expect(await count(outsider, 2)).toEqual({ polling: 2, websocket: 1 });
    await until(() => own.length > 0, 5000, "the outsider's message at the sender");
    expect(own.map((m) => m.offset)).toEqual([2]);
  });

  it('has every publish in the latency histogram at each scrape, across its batches', async () => {
    const before = await scrape();
    // 3 × 100 publishes: more than one batch of observations (256), and a part batch that only
    // the scrape can flush.
    for (let i = 0; i < 3; i++) {
      const messages = Array.from({ length: 100 }, (_, j) => ({ room: `h:${j}`, event: 'e', data: i }));
      expect((await api(b.url, 'POST', '/v1/batch', { messages })).status).toBe(200);
    }
    const after = await scrape();
    const delta = (key: string) => value(after, key) - value(before, key);
    expect(delta('roomcast_publish_duration_seconds_count{source="api"}')).toBe(300);
    expect(delta('roomcast_publish_duration_seconds_bucket{le="+Inf",source="api"}')).toBe(300);
    expect(delta('roomcast_publish_duration_seconds_sum{source="api"}')).toBeGreaterThan(0);
    expect(delta('roomcast_messages_published_total{namespace="/",source="api"}')).toBe(300);
    // Nothing is left over for the next scrape.
    expect(value(await scrape(), 'roomcast_publish_duration_seconds_count{source="api"}')).toBe(
      value(after, 'roomcast_publish_duration_seconds_count{source="api"}'),
    );
  });

  it('counts a socket that joined while polling and then upgraded as websocket', async () => {
    const s = await connect(b.url, token('upgrader'), { transports: ['polling', 'websocket'] });
    expect(await request(s, 'join', { room: 'm:up' })).toMatchObject({ ok: true });
    await until(() => s.io.engine.transport.name === 'websocket', 5000, 'the upgrade');
    await noPolling('the server to see the upgrade');
    const before = await scrape();
    const got = nextEvent(s, 'message');
    await api(b.url, 'POST', '/v1/publish', { room: 'm:up', event: 'e', data: null });
    await got;
    const after = await scrape();
    const delta = (key: string) => value(after, key) - value(before, key);
    expect(delta('roomcast_messages_delivered_total{namespace="/",transport="websocket"}')).toBe(1);
    expect(delta('roomcast_messages_delivered_total{namespace="/",transport="polling"}')).toBe(0);
  });
});

describe('per-key rate limit', () => {
  it('answers 429 with Retry-After per key, and other keys are not affected', async () => {
    const limited = await startBroker(
      testConfig(
        { api: { rateLimitPerSecond: 3 } },
        { ROOMCAST_API_KEYS: 'key-one-00000001,key-two-00000001' },
      ),
    );
    try {
      const call = (key: string) =>
        api(limited.url, 'POST', '/v1/publish', { room: 'rl', event: 'e', data: null }, { key });
      const replies = await Promise.all(Array.from({ length: 10 }, () => call('key-one-00000001')));
      const refused = replies.filter((r) => r.status === 429);
      expect(refused.length).toBeGreaterThan(0);
      for (const r of refused) {
        expect(r.body).toEqual({ ok: false, error: { code: 'rate_limited', message: expect.any(String) } });
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
      expect((await call('key-two-00000001')).status).toBe(200);
      // Refused keys are not counted against anyone.
      expect((await call('not-a-key-0000001')).status).toBe(401);
    } finally {
      await limited.close();
    }
  });
});

const METRICS_TOKEN = 'metrics-token-0123456789';

describe('metrics.token', () => {
  it('requires Authorization: Bearer <token> on /metrics, and only there', async () => {
    const guarded = await startBroker(testConfig({ metrics: { token: METRICS_TOKEN } }));
    try {
      for (const authorization of [undefined, 'Bearer wrong-token-0123456789', `Basic ${METRICS_TOKEN}`]) {
        const res = await fetch(`${guarded.url}/metrics`, {
          headers: authorization ? { authorization } : {},
        });
        expect(res.status, authorization).toBe(401);
        expect(await res.json()).toEqual({
          ok: false,
          error: { code: 'unauthorized', message: expect.stringContaining('Bearer') },
        });
      }
      const ok = await fetch(`${guarded.url}/metrics`, {
        headers: { authorization: `Bearer ${METRICS_TOKEN}` },
      });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toContain('roomcast_connections');
      // The server API's keys do not open /metrics, and the token opens nothing else.
      expect((await api(guarded.url, 'GET', '/metrics')).status).toBe(401);
      expect((await api(guarded.url, 'GET', '/v1/rooms', undefined, { key: METRICS_TOKEN })).status).toBe(
        401,
      );
      expect((await fetch(`${guarded.url}/healthz`)).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });
});

describe('metrics.port', () => {
  async function start(metrics: Record<string, unknown>) {
    const broker = await createBroker(testConfig({ metrics }), { logger: pino({ level: 'silent' }) });
    const listening = await broker.listen();
    if (!listening.metrics) throw new Error('no metrics port');
    return {
      broker,
      main: `http://127.0.0.1:${listening.port}`,
      metrics: `http://127.0.0.1:${listening.metrics.port}`,
    };
  }

  it('serves /metrics on its own port and not on the main one; closes it with the broker', async () => {
    const { broker, main, metrics } = await start({ port: 0 });
    let closed = false;
    try {
      expect(metrics).not.toBe(main);
      const scraped = await fetch(`${metrics}/metrics`);
      expect(scraped.status).toBe(200);
      expect(scraped.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(await scraped.text()).toContain('roomcast_redis_connected');
      const onMain = await fetch(`${main}/metrics`);
      expect(onMain.status).toBe(404);
      expect(((await onMain.json()) as { error: { code: string } }).error.code).toBe('not_found');
      // A request its HTTP parser cannot read gets the error body there too.
      const garbled = await rawHttp(metrics, 'GARBAGE\r\n\r\n');
      expect(garbled.status).toBe(400);
      expect(JSON.parse(garbled.body)).toMatchObject({ ok: false, error: { code: 'bad_request' } });
      // Only /metrics lives on the metrics port.
      expect((await fetch(`${metrics}/healthz`)).status).toBe(404);
      expect((await fetch(`${metrics}/v1/rooms`)).status).toBe(404);
      await broker.close();
      closed = true;
      await expect(fetch(`${metrics}/metrics`)).rejects.toThrow();
    } finally {
      if (!closed) await broker.close();
    }
  });

  it('takes the token there too', async () => {
    const { broker, metrics } = await start({ port: 0, token: METRICS_TOKEN });
    try {
      expect((await fetch(`${metrics}/metrics`)).status).toBe(401);
      const ok = await fetch(`${metrics}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } });
      expect(ok.status).toBe(200);
    } finally {
      await broker.close();
    }
  });
});
