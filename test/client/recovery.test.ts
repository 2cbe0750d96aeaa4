import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { messageChannel } from '../../src/rooms/names.js';
import {
  closeClients,
  connect,
  type RunningBroker,
  request,
  startBroker,
  token,
  until,
} from '../helpers/broker.js';
import {
  closeSdkClients,
  connectionGate,
  nextClientEvent,
  range,
  record,
  sdkClient,
  sdkConfig,
  serverSocketOf,
} from './helpers.js';

let b: RunningBroker;
let gate: ReturnType<typeof connectionGate>;
beforeAll(async () => {
  b = await startBroker(sdkConfig());
  gate = connectionGate(b);
});
afterEach(() => {
  gate.open();
  closeSdkClients();
  closeClients();
});
afterAll(() => b.close());

/** Publishes `count` messages to `room` from a plain Socket.IO client, one after another. */
async function publishMany(room: string, count: number, from = 0): Promise<void> {
  const pub = await connect(b.url, token('pub'));
  for (let i = from; i < from + count; i++) {
    const ack = await request(pub, 'publish', { room, event: 'n', data: i });
    if (!ack.ok) throw new Error(`publish ${i}: ${ack.error?.code}`);
  }
}

/** An SDK client that joined `room` and then went offline; `seen` records what it hands over. */
async function joinedThenOffline(url: string, user: string, room: string) {
  const client = sdkClient({ url, token: token(user) });
  const joined = client.join(room);
  const seen = record(joined);
  await joined.joined;
  client.disconnect();
  await until(() => client.state === 'disconnected', 5000, 'disconnected');
  return { client, seen };
}

describe('SDK recovery on one node', () => {
  it('rejoins after a dropped connection and hands over what was missed, once, in order', async () => {
    const client = sdkClient({ url: b.url, token: token('alice') });
    const room = client.join('chat:drop');
    const seen = record(room);
    expect(await room.joined).toMatchObject({ ok: true, offset: 0 });
    await publishMany('chat:drop', 3);
    await until(() => seen.offsets.length === 3, 5000, 'live messages');

    const rejoined = new Promise((resolve) => room.onJoined((e) => !e.first && resolve(e)));
    const dropped = nextClientEvent(client, 'reconnecting');
    gate.hold('alice'); // its next connection waits until the missed messages are published
    client.socket!.io.engine.close(); // the transport dies, as on a network drop
    await dropped;
    await publishMany('chat:drop', 4, 3);
    gate.open();
    expect(await rejoined).toMatchObject({ resumed: true, recovered: true });
    await until(() => seen.offsets.length === 7, 5000, 'recovered messages');
    expect(seen.offsets).toEqual(range(1, 7));
    expect(seen.data).toEqual(range(0, 6));
    expect(seen.metas.slice(3).every((m) => m.replayed)).toBe(true);
  });

  it('keeps order with no duplicates under a steady stream while the transport drops', async () => {
    const client = sdkClient({ url: b.url, token: token('bob') });
    const room = client.join('chat:stream');
    const seen = record(room);
    await room.joined;
    const total = 400;
    const stream = publishMany('chat:stream', total);
    for (const at of [60, 160, 260]) {
      await until(() => seen.offsets.length >= at, 10_000, `${at} messages`);
      const back = nextClientEvent(client, 'connected');
      client.socket!.io.engine.close();
      await back;
    }
    await stream;
    await until(() => seen.offsets.length >= total, 10_000, 'every message');
    expect(seen.offsets).toEqual(range(1, total));
  });

  it('fills a gap from history when a live message is missed', async () => {
    const client = sdkClient({ url: b.url, token: token('carol') });
    const room = client.join('chat:gap');
    const seen = record(room);
    await room.joined;
    await publishMany('chat:gap', 2);
    await until(() => seen.offsets.length === 2, 5000, 'first messages');
    // The broker stops delivering to this connection for one message: a gap in the live stream.
    const { nsp } = b.broker.namespaces.get('/')!;
    const sid = serverSocketOf(b, client).id;
    nsp.adapter.del(sid, messageChannel('chat:gap'));
    await publishMany('chat:gap', 1, 2);
    nsp.adapter.addAll(sid, new Set([messageChannel('chat:gap')]));
    await publishMany('chat:gap', 2, 3);
    await until(() => seen.offsets.length === 5, 5000, 'the gap filled');
    expect(seen.offsets).toEqual([1, 2, 3, 4, 5]);
    expect(seen.metas.map((m) => m.replayed)).toEqual([false, false, true, false, false]);
  });

  it('pages through history when more was missed than one reply holds', async () => {
    const small = await startBroker(sdkConfig({ limits: { historyLimit: 5 } }));
    try {
      const { client, seen } = await joinedThenOffline(small.url, 'dave', 'chat:pages');
      const pub = await connect(small.url, token('pub'));
      for (let i = 0; i < 17; i++) await request(pub, 'publish', { room: 'chat:pages', event: 'n', data: i });
      client.connect();
      await until(() => seen.offsets.length === 17, 5000, 'all pages');
      expect(seen.offsets).toEqual(range(1, 17));
    } finally {
      await small.close();
    }
  });

  it('recovers binary messages past the 10 attachments one Socket.IO packet may carry', async () => {
    const { client, seen } = await joinedThenOffline(b.url, 'bin', 'chat:bin');
    const pub = await connect(b.url, token('pub'));
    // 14 messages of 2 binary parts each (28 parts), a JSON one in the middle.
    for (let i = 0; i < 15; i++) {
      const data = i === 7 ? { i } : { i, a: Buffer.from([i, 1]), b: Buffer.from([i, 2]) };
      const ack = await request(pub, 'publish', { room: 'chat:bin', event: 'n', data });
      if (!ack.ok) throw new Error(`publish ${i}: ${ack.error?.code}`);
    }
    const states: string[] = [];
    client.on('state', (state) => states.push(state));
    client.connect();
    await until(() => seen.offsets.length === 15, 5000, 'every binary message');
    expect(seen.offsets).toEqual(range(1, 15));
    const bytes = (seen.data as Array<{ a?: ArrayBuffer }>).map((d) =>
      d.a ? [...new Uint8Array(d.a)] : null,
    );
    expect(bytes[14]).toEqual([14, 1]);
    expect(bytes[7]).toBeNull();
    // The connection was never dropped by a reply the client could not decode.
    expect(client.state).toBe('connected');
    expect(states).not.toContain('reconnecting');
  });

  it('recovers more bytes than the send queue holds, page by page, without being cut off as a slow consumer', async () => {
    const { client, seen } = await joinedThenOffline(b.url, 'bulk', 'chat:bulk');
    const pub = await connect(b.url, token('pub'));
    // 20 messages of 60 KB: 1.2 MB, more than limits.sendQueueBytes (1 MiB) in one reply.
    for (let i = 0; i < 20; i++) {
      const ack = await request(pub, 'publish', {
        room: 'chat:bulk',
        event: 'n',
        data: { i, text: 'x'.repeat(60_000) },
      });
      if (!ack.ok) throw new Error(`publish ${i}: ${ack.error?.code}`);
    }
    const closing: string[] = [];
    client.on('closing', (e) => closing.push(e.code));
    const states: string[] = [];
    client.on('state', (state) => states.push(state));
    client.connect();
    await until(() => seen.offsets.length === 20, 10_000, 'every message');
    expect(seen.offsets).toEqual(range(1, 20));
    expect((seen.data as Array<{ i: number }>).map((d) => d.i)).toEqual(range(0, 19));
    expect(closing).toEqual([]);
    expect(states).not.toContain('reconnecting');
  });

  it('recovers past the event limit: a page refused as rate_limited is asked again', async () => {
    // 100 messages of 2 binary parts: 20 pages of 5 against a limit of 5 events a second (a
    // bucket of 5, refilled at 5 a second). Pages come back in milliseconds, so the sixth is
    // refused unless the first six took a second: refusal does not depend on the machine's speed,
    // as it did with 120 pages against the default 100 a second (a slow run refilled the bucket).
    const strict = await startBroker(sdkConfig({ limits: { eventsPerSecond: 5 } }));
    try {
      const { client, seen } = await joinedThenOffline(strict.url, 'slow', 'chat:many');
      const rooms = strict.broker.namespaces.get('/')!.rooms;
      for (let i = 0; i < 100; i++) {
        const data = { i, a: Buffer.from([i % 256]), b: Buffer.from([1]) };
        await rooms.publish(null, { room: 'chat:many', event: 'n', data });
      }
      const refused: string[] = [];
      client.on('error', (err) => refused.push(err.code));
      client.connect();
      await until(() => seen.offsets.length === 100, 20_000, 'every message, page by page');
      expect(seen.offsets).toEqual(range(1, 100));
      expect(refused).toContain('rate_limited');
    } finally {
      await strict.close();
    }
  });

  it('says when history no longer reaches back, and goes on from what is there', async () => {
    const short = await startBroker(sdkConfig({ history: [{ pattern: '*', size: 3, ttlMs: 0 }] }));
    try {
      const { client, seen } = await joinedThenOffline(short.url, 'erin', 'chat:lost');
      const pub = await connect(short.url, token('pub'));
      for (let i = 0; i < 10; i++) await request(pub, 'publish', { room: 'chat:lost', event: 'n', data: i });
      const lost = nextClientEvent(client, 'unrecovered');
      client.connect();
      expect(await lost).toMatchObject({ room: 'chat:lost', reason: 'history_trimmed', to: { offset: 7 } });
      await until(() => seen.offsets.length === 3, 5000, 'what history kept');
      expect(seen.offsets).toEqual([8, 9, 10]);
    } finally {
      await short.close();
    }
  });
});
