import { afterEach, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import { SLOW_CLOSE_GRACE_MS } from '../../src/socket/send-queue.js';
import { api, closeStreams, isRefusal, openSse } from '../api/http.js';
import {
  closeClients,
  connect,
  connectError,
  type RunningBroker,
  request,
  startBroker,
  testConfig,
  token,
  until,
} from '../helpers/broker.js';
import { startCluster } from '../helpers/cluster.js';
import { closeRaw, rawConnect } from '../helpers/raw.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

let brokers: RunningBroker[] = [];
let redis: TestRedis | undefined;
afterEach(async () => {
  closeClients();
  closeRaw();
  closeStreams();
  await Promise.all(brokers.map((b) => b.close()));
  brokers = [];
  await redis?.stop();
  redis = undefined;
});

describe('limits.maxConnections (per node)', () => {
  it('refuses connections past it with unavailable, sockets and SSE alike, and takes one when a place frees', async () => {
    const b = await startBroker(testConfig({ limits: { maxConnections: 2 } }));
    brokers.push(b);
    const first = await connect(b.url, token('a'));
    await connect(b.url, token('b'));
    const err = await connectError(b.url, token('c'));
    expect(err.message).toBe('unavailable');
    expect(err.data?.message).toMatch(/maxConnections/);
    const sse = await openSse(`${b.url}/v1/events?room=r&token=${token('d')}`);
    expect(isRefusal(sse) && sse.status).toBe(503);
    first.disconnect();
    await until(
      async () => (await connect(b.url, token('c')).catch(() => null)) !== null,
      5000,
      'a free place',
    );
  });

  it('does not count bare Engine.IO handshakes, which need no token: a flood of them locks nobody out', async () => {
    const b = await startBroker(testConfig({ limits: { maxConnections: 2 } }));
    brokers.push(b);
    const handshakes = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const res = await fetch(`${b.url}/socket.io/?EIO=4&transport=polling`);
        expect(res.status).toBe(200);
        return res.text();
      }),
    );
    expect(handshakes.every((h) => h.startsWith('0{"sid"'))).toBe(true);
    expect(b.broker.io.engine.clientsCount).toBe(20);
    const a = await connect(b.url, token('a'));
    const sse = await openSse(`${b.url}/v1/events?room=r&token=${token('b')}`);
    if (isRefusal(sse)) throw new Error(`refused: ${JSON.stringify(sse.body)}`);
    // The two places are taken by connections that got in; the handshakes still count for nothing.
    expect((await connectError(b.url, token('c'))).message).toBe('unavailable');
    a.disconnect();
    await until(
      async () => (await connect(b.url, token('c')).catch(() => null)) !== null,
      5000,
      'a free place',
    );
  });

  it('with no limit (the default) keeps no handshake count, and lets sockets and streams in as ever', async () => {
    const limited = await startBroker(testConfig({ limits: { maxConnections: 2 } }));
    const open = await startBroker(testConfig());
    brokers.push(limited, open);
    expect(open.broker.config.limits.maxConnections).toBeNull();
    // The count watches the engine's new connections: one listener more than an unlimited node has.
    const watchers = (b: RunningBroker) => b.broker.io.engine.listenerCount('connection');
    expect(watchers(limited) - watchers(open)).toBe(1);
    await Promise.all(
      Array.from({ length: 5 }, () => fetch(`${open.url}/socket.io/?EIO=4&transport=polling`)),
    );
    const sockets = await Promise.all(['a', 'b', 'c'].map((sub) => connect(open.url, token(sub))));
    const sse = await openSse(`${open.url}/v1/events?room=r&token=${token('d')}`);
    if (isRefusal(sse)) throw new Error(`refused: ${JSON.stringify(sse.body)}`);
    expect(sockets.every((s) => s.connected)).toBe(true);
    expect(watchers(open)).toBe(watchers(limited) - 1);
  });

  it('lets no more SSE streams in than places when they arrive together and wait on Redis', async () => {
    redis = await startRedis();
    // connectionsPerUser: each stream's admission waits on Redis (its user's count) before it counts.
    const overrides = {
      limits: { maxConnections: 2 },
      namespaces: { '/': { limits: { connectionsPerUser: 10 } } },
    };
    const [b] = (await startCluster(1, redis.url, {}, overrides)) as [RunningBroker];
    brokers.push(b);
    const tries = await Promise.all(
      Array.from({ length: 6 }, (_, i) => openSse(`${b.url}/v1/events?room=r&token=${token(`sse${i}`)}`)),
    );
    const open = tries.filter((t) => !isRefusal(t));
    expect(open).toHaveLength(2);
    for (const t of tries.filter(isRefusal))
      expect(t).toMatchObject({ status: 503, body: { error: { code: 'unavailable' } } });
  });

  it('forgets handshakes that closed without connecting, so they do not count as free places', async () => {
    const b = await startBroker(testConfig({ limits: { maxConnections: 2 } }));
    brokers.push(b);
    // A burst of them, all opened and then all closed.
    const sids = await Promise.all(
      Array.from({ length: 40 }, async () => {
        const open = await fetch(`${b.url}/socket.io/?EIO=4&transport=polling`);
        return (JSON.parse((await open.text()).slice(1)) as { sid: string }).sid;
      }),
    );
    await Promise.all(
      sids.map(async (sid) => {
        // Engine.IO's close packet: the handshake ends with no namespace connected.
        const close = await fetch(`${b.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
          method: 'POST',
          body: '1',
        });
        await close.arrayBuffer();
      }),
    );
    await until(() => b.broker.io.engine.clientsCount === 0, 5000, 'the handshakes closed');
    await connect(b.url, token('a'));
    await connect(b.url, token('b'));
    expect((await connectError(b.url, token('c'))).message).toBe('unavailable');
  });

  it('gives the place back when a connection let in by the node limit is refused after (a bad token)', async () => {
    const b = await startBroker(testConfig({ limits: { maxConnections: 2 } }));
    brokers.push(b);
    // Five Engine.IO connections whose CONNECT is refused for its token; they stay open.
    const refused = await Promise.all(
      Array.from({ length: 5 }, () => rawConnect(b.url, { token: 'not-a-jwt' })),
    );
    for (const r of refused) expect(r.frames.some((f) => f.startsWith('44'))).toBe(true);
    expect(refused.every((r) => r.isOpen())).toBe(true);
    await connect(b.url, token('a'));
    await connect(b.url, token('b'));
    expect((await connectError(b.url, token('c'))).message).toBe('unavailable');
  });

  it('does not let concurrent admissions pass the limit together while they wait on Redis', async () => {
    redis = await startRedis();
    // connectionsPerUser makes every admission wait on Redis after the node limit was checked.
    const [node] = await startCluster(
      1,
      redis.url,
      {},
      {
        limits: { maxConnections: 3 },
        namespaces: { '/': { limits: { connectionsPerUser: 5 } } },
      },
    );
    brokers = [node!];
    const outcomes = await Promise.allSettled(
      Array.from({ length: 12 }, (_, i) => connect(node!.url, token(`u${i}`))),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(3);
  });

  it('counts a connection with two namespaces once', async () => {
    const config = testConfig({ limits: { maxConnections: 1 }, namespaces: { '/second': {} } });
    const b = await startBroker(config);
    brokers.push(b);
    const first = await connect(b.url, token('a'));
    // A second namespace over the same Engine.IO connection (one Manager).
    const second = first.io.socket('/second', {
      auth: { token: token('a', undefined, { config, ns: '/second' }) },
    });
    const outcome = new Promise<string>((resolve) => {
      second.once('connect', () => resolve('connected'));
      second.once('connect_error', (err) => resolve(err.message));
    });
    second.connect();
    expect(await outcome).toBe('connected');
    second.disconnect();
    expect((await connectError(b.url, token('c'))).message).toBe('unavailable');
  });
});

describe.each(['one node', 'two nodes over Redis'])('limits.connectionsPerUser (%s)', (mode) => {
  async function start(): Promise<RunningBroker[]> {
    const overrides = { namespaces: { '/': { limits: { connectionsPerUser: 2 } } } };
    if (mode === 'one node') brokers = [await startBroker(testConfig(overrides))];
    else {
      redis = await startRedis();
      brokers = await startCluster(2, redis.url, {}, overrides);
    }
    return brokers;
  }

  it('counts a user’s sockets and SSE streams across the cluster, and frees a place when one ends', async () => {
    const [a, b = a] = (await start()) as [RunningBroker, RunningBroker?];
    const one = await connect(a.url, token('alice'));
    const sse = await openSse(`${b!.url}/v1/events?room=r&token=${token('alice')}`);
    expect(isRefusal(sse)).toBe(false);
    const err = await connectError(b!.url, token('alice'));
    expect(err.message).toBe('too_many_connections');
    expect(err.data).toMatchObject({ code: 'too_many_connections' });
    const refused = await openSse(`${a.url}/v1/events?room=r&token=${token('alice')}`);
    expect(isRefusal(refused) && refused.body.error.code).toBe('too_many_connections');
    expect((await connect(b!.url, token('bob'))).connected).toBe(true);
    one.disconnect();
    await until(
      async () => (await connect(b!.url, token('alice')).catch(() => null)) !== null,
      5000,
      'alice again once one of hers ended',
    );
    // roomcast's own counting room is not a room anyone sees.
    const rooms = await api<{ rooms: Array<{ room: string }> }>(a.url, 'GET', '/v1/rooms');
    expect(rooms.body.rooms?.map((r) => r.room)).toEqual(['r']);
  });
});

describe('limits.connectionsPerUser: a client gone while its admission waits on Redis', () => {
  it('gives its place back, so the user can connect again', async () => {
    redis = await startRedis();
    const overrides = { namespaces: { '/': { limits: { connectionsPerUser: 1 } } } };
    const [b] = (await startCluster(1, redis.url, {}, overrides)) as [RunningBroker];
    brokers.push(b);
    const engine = b.broker.io.engine;
    const raw = await rawConnect(b.url);
    expect(engine.clientsCount).toBe(1);
    // Redis frozen: the admission (revocation check, the user's count) waits while the client
    // sends its CONNECT and vanishes; Socket.IO then drops the socket without a `disconnect`.
    redis.freeze();
    try {
      raw.send(`40${JSON.stringify({ token: token('alice') })}`);
      raw.terminate();
      await until(() => engine.clientsCount === 0, 5000, 'the connection closed on the server');
    } finally {
      redis.thaw();
    }
    const alice = await until(
      async () => connect(b.url, token('alice')).catch(() => null),
      5000,
      'alice connected again',
    );
    expect(alice.connected).toBe(true);
    // Her one place is taken again, by this connection.
    expect((await connectError(b.url, token('alice'))).message).toBe('too_many_connections');
  });
});

describe('one Engine.IO connection, namespaces opened and closed on it', () => {
  it('leaves no listener of a closed namespace socket on the connection', async () => {
    const b = await startBroker(testConfig());
    brokers.push(b);
    const raw = await rawConnect(b.url, { token: token('alice') });
    const conn = [...b.broker.io.of('/').sockets.values()][0]!.conn;
    expect(conn.listenerCount('packetCreate')).toBe(1);
    for (let i = 0; i < 12; i++) {
      raw.send('41');
      await until(() => b.broker.io.of('/').sockets.size === 0, 5000, 'the namespace closed');
      raw.send(`40${JSON.stringify({ token: token('alice') })}`);
      await raw.next((f) => f.startsWith('40{"sid"'));
    }
    expect(conn.listenerCount('packetCreate')).toBe(1);
    expect(conn.listenerCount('close')).toBeLessThan(5);
    raw.send('421["join",{"room":"again"}]');
    expect(await raw.ack(1)).toMatchObject({ ok: true, room: 'again' });
  });

  it('closing a roomcast socket keeps a Laravel Echo socket on the same connection open', async () => {
    const echo = { authHost: 'http://127.0.0.1:9', apps: [], subscribeRedis: false };
    const b = await startBroker(testConfig({ namespaces: { '/': {}, '/echo': { echo } } }));
    brokers.push(b);
    const raw = await rawConnect(b.url, { token: token('alice') });
    raw.send('40/echo,{}');
    await raw.next((f) => f.startsWith('40/echo,'));
    expect(b.broker.io.of('/echo').sockets.size).toBe(1);
    const res = await api(b.url, 'POST', '/v1/disconnect', { sub: 'alice' });
    expect(res.body).toMatchObject({ ok: true });
    await raw.next((f) => f.startsWith('42["closing"'));
    await until(() => b.broker.io.of('/').sockets.size === 0, 5000, 'the roomcast socket closed');
    expect(raw.isOpen()).toBe(true);
    expect(b.broker.io.of('/echo').sockets.size).toBe(1);
    raw.send('42/echo,["subscribe",{"channel":"news","auth":{"headers":{}}}]');
    await until(
      () => [...b.broker.io.of('/echo').sockets.values()].some((sock) => sock.rooms.size > 1),
      5000,
      'the Echo socket subscribed after the roomcast one closed',
    );
  });
});

describe('limits.sendQueueBytes (slow consumers)', () => {
  it('closes a client that stops reading once its unsent data passes the limit; the others get everything', async () => {
    const b = await startBroker(testConfig({ limits: { sendQueueBytes: 256 * 1024 } }));
    brokers.push(b);
    const stalled = await rawConnect(b.url, { token: token('stalled') });
    stalled.send('421["join",{"room":"busy"}]');
    await stalled.ack(1);
    const reader = await connect(b.url, token('reader'));
    await request(reader, 'join', { room: 'busy' });
    const got: Envelope[] = [];
    reader.on('message', (m: Envelope) => got.push(m));
    const sockets = () => b.broker.io.of('/').sockets.size;
    expect(sockets()).toBe(2);
    stalled.pause();
    const chunk = 'x'.repeat(60_000);
    const count = 200; // 12 MB into the room
    for (let i = 0; i < count; i++) {
      const res = await api(b.url, 'POST', '/v1/publish', { room: 'busy', event: 'e', data: { i, chunk } });
      expect(res.status).toBe(200);
    }
    await until(() => sockets() === 1, 10_000, 'the stalled client closed');
    // Its connection, with what was queued for it, is dropped after the grace; not held until
    // Engine.IO's ping timeout (45 s).
    const engine = b.broker.io.engine;
    await until(
      () => engine.clientsCount === 1,
      SLOW_CLOSE_GRACE_MS + 5000,
      'the stalled connection dropped',
    );
    stalled.terminate();
    await until(() => got.length === count, 10_000, 'every message to the reader');
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    expect(metrics).toMatch(/roomcast_slow_consumers_total\{namespace="\/"\} 1/);
  });

  it.each([
    ['WebSocket', ['websocket']],
    ['long-polling', ['polling']],
    ['long-polling, then WebSocket', ['polling', 'websocket']],
  ])('keeps a %s client that reads, however much passes through it', async (_what, transports) => {
    const b = await startBroker(testConfig({ limits: { sendQueueBytes: 64 * 1024 } }));
    brokers.push(b);
    const reader = await connect(b.url, token('reader'), { transports });
    await request(reader, 'join', { room: 'steady' });
    let got = 0;
    reader.on('message', () => got++);
    const chunk = 'x'.repeat(4_000);
    const count = 300; // 1.2 MB, about 19 times the limit, one message at a time
    for (let i = 0; i < count; i++) {
      const res = await api(b.url, 'POST', '/v1/publish', { room: 'steady', event: 'e', data: { i, chunk } });
      expect(res.status).toBe(200);
    }
    await until(() => got === count, 15_000, 'every message to the reader').catch((err: Error) => {
      throw new Error(`${err.message}: ${got} of ${count}, connected: ${reader.connected}`);
    });
    expect(reader.connected).toBe(true);
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    expect(metrics).not.toMatch(/roomcast_slow_consumers_total\{namespace="\/"\} [1-9]/);
  });

  it('closes 50 stalled readers of a room that gets 20 MB, each once, and the node does not grow with them', async () => {
    const b = await startBroker(testConfig());
    brokers.push(b);
    const stalled = await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const raw = await rawConnect(b.url, { token: token(`stalled${i}`) });
        raw.send('421["join",{"room":"busy"}]');
        await raw.ack(1);
        return raw;
      }),
    );
    const reader = await connect(b.url, token('reader'));
    await request(reader, 'join', { room: 'busy' });
    let got = 0;
    reader.on('message', () => got++);
    for (const raw of stalled) raw.pause();
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const chunk = 'x'.repeat(60_000);
    const count = 350; // 21 MB into the room
    for (let i = 0; i < count; i++) {
      const res = await api(b.url, 'POST', '/v1/publish', { room: 'busy', event: 'e', data: { i, chunk } });
      expect(res.status).toBe(200);
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    const open = () => b.broker.io.of('/').sockets.size - 1;
    await until(() => open() === 0, 15_000, 'every stalled reader closed').catch((err: Error) => {
      throw new Error(`${err.message}: ${open()} of 50 still open`);
    });
    await until(() => got === count, 15_000, 'every message to the reader');
    const metrics = await (await fetch(`${b.url}/metrics`)).text();
    expect(metrics).toMatch(/roomcast_slow_consumers_total\{namespace="\/"\} 50/);
    for (const raw of stalled) raw.terminate();
    const grewMb = (peak - baseline) / 1024 / 1024;
    console.log(`50 stalled readers, 21 MB published: RSS grew ${grewMb.toFixed(1)} MB at most`);
    expect(grewMb).toBeLessThan(100);
  }, 60_000);
});
