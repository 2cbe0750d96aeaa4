import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server, type Socket } from 'socket.io';
import * as parser from 'socket.io-parser';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { PublishRequest } from '../../src/protocol.js';
import { type RunningBroker, startBroker, token, until } from '../helpers/broker.js';
import { closeSdkClients, nextClientEvent, record, sdkClient, sdkConfig } from './helpers.js';

/**
 * A bare Socket.IO server standing in for the broker: it records every publish it receives and
 * answers as `answer` says (`undefined`: no acknowledgement at all, as when it is lost).
 */
interface FakeBroker {
  url: string;
  received: PublishRequest[];
  answer: (req: PublishRequest, attempt: number) => object | undefined;
  close(): Promise<void>;
}

async function fakeBroker(): Promise<FakeBroker> {
  const http: HttpServer = createServer();
  const io = new Server(http);
  const fake: FakeBroker = {
    url: '',
    received: [],
    answer: () => ({ ok: true, offset: 1, epoch: 'e1' }),
    close: () => io.close(),
  };
  io.on('connection', (socket: Socket) => {
    socket.onAny((event: string, payload: unknown, ack?: (reply: object) => void) => {
      if (event === 'join') {
        const room = (payload as { room: string }).room;
        ack?.({ ok: true, room, offset: 0, epoch: 'e1', recovered: false, messages: [] });
      }
      if (event !== 'publish') return;
      const req = payload as PublishRequest;
      fake.received.push(req);
      const attempt = fake.received.filter((r) => r.idempotencyKey === req.idempotencyKey).length;
      const reply = fake.answer(req, attempt);
      if (reply) ack?.(reply);
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  return fake;
}

let fake: FakeBroker;
beforeAll(async () => {
  fake = await fakeBroker();
});
afterEach(() => {
  closeSdkClients();
  fake.received.length = 0;
  fake.answer = () => ({ ok: true, offset: 1, epoch: 'e1' });
});
afterAll(() => fake.close());

/** The first attempt of every key gets no acknowledgement; the next ones do. */
const dropFirstAck = (_req: PublishRequest, attempt: number) =>
  attempt === 1 ? undefined : { ok: true, offset: 7, epoch: 'e1' };

async function connected(opts: { ackTimeoutMs?: number; publishRetries?: number } = {}) {
  const client = sdkClient({ url: fake.url, token: 'any', ackTimeoutMs: 300, ...opts });
  await nextClientEvent(client, 'connected');
  return client;
}

describe('SDK publish retries', () => {
  it('sends a fresh key with every publish, and the caller’s own key as given', async () => {
    const client = await connected();
    expect((await client.publish('r', 'e', 1)).ok).toBe(true);
    expect((await client.publish('r', 'e', 2)).ok).toBe(true);
    expect((await client.publish('r', 'e', 3, { idempotencyKey: 'order-42' })).ok).toBe(true);
    const [a, b, c] = fake.received.map((r) => r.idempotencyKey);
    expect(a).toMatch(/^[\w-]{1,128}$/);
    expect(b).toMatch(/^[\w-]{1,128}$/);
    expect(a).not.toBe(b);
    expect(c).toBe('order-42');
  });

  it('sends a publish whose acknowledgement was lost again, with the same key', async () => {
    fake.answer = dropFirstAck;
    const client = await connected();
    const res = await client.publish('r', 'e', { n: 1 }, { echo: true });
    expect(res).toEqual({ ok: true, offset: 7, epoch: 'e1' });
    expect(fake.received).toHaveLength(2);
    expect(fake.received[1]).toEqual(fake.received[0]);
    expect(fake.received[0]).toMatchObject({ room: 'r', event: 'e', data: { n: 1 }, echo: true });
  });

  it('does the same for a joined room’s publish', async () => {
    fake.answer = dropFirstAck;
    const client = await connected();
    const room = client.join('chat:1');
    await room.joined;
    expect(await room.publish('msg', { text: 'hi' })).toMatchObject({ ok: true, offset: 7 });
    expect(fake.received.map((r) => r.idempotencyKey)).toEqual([
      fake.received[0]!.idempotencyKey,
      fake.received[0]!.idempotencyKey,
    ]);
  });

  it('gives up after publishRetries more attempts, and never retries an answer', async () => {
    fake.answer = () => undefined;
    const client = await connected({ ackTimeoutMs: 150 });
    const lost = await client.publish('r', 'e', 1);
    expect(lost).toMatchObject({ ok: false, error: { code: 'timeout', temporary: true } });
    expect(fake.received).toHaveLength(3);
    expect(new Set(fake.received.map((r) => r.idempotencyKey)).size).toBe(1);

    fake.received.length = 0;
    const once = await connected({ ackTimeoutMs: 150, publishRetries: 0 });
    expect((await once.publish('r', 'e', 1)).ok).toBe(false);
    expect(fake.received).toHaveLength(1);

    fake.received.length = 0;
    fake.answer = () => ({ ok: false, error: { code: 'rate_limited', message: 'slow down' } });
    const refused = await client.publish('r', 'e', 1);
    expect(refused).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
    expect(fake.received).toHaveLength(1);
  });
});

/**
 * A socket.io-client parser decoder (the client's documented `parser` option) that drops an
 * acknowledgement whenever `lose()` says so: the broker applied the request, the client never
 * hears it.
 */
function ackLosingDecoder(lose: () => boolean) {
  return class {
    private readonly inner = new parser.Decoder();
    private readonly wrapped = new Map<(packet: parser.Packet) => void, (packet: parser.Packet) => void>();

    on(event: 'decoded', listener: (packet: parser.Packet) => void): this {
      const filtered = (packet: parser.Packet) => {
        if (packet.type === parser.PacketType.ACK && lose()) return;
        listener(packet);
      };
      this.wrapped.set(listener, filtered);
      this.inner.on(event, filtered);
      return this;
    }

    off(event: 'decoded', listener: (packet: parser.Packet) => void): this {
      const filtered = this.wrapped.get(listener);
      if (filtered) this.inner.off(event, filtered);
      return this;
    }

    add(chunk: unknown): void {
      this.inner.add(chunk);
    }

    destroy(): void {
      this.inner.destroy();
    }
  };
}

/** Loses the first acknowledgement the client receives (one client per test uses it). */
let firstLost = false;
const AckLosingDecoder = ackLosingDecoder(() => {
  if (firstLost) return false;
  firstLost = true;
  return true;
});

/** Loses the next acknowledgement once `loseNextAck` is set. */
let loseNextAck = false;
const SwitchedAckLosingDecoder = ackLosingDecoder(() => {
  if (!loseNextAck) return false;
  loseNextAck = false;
  return true;
});

describe('SDK publish retries against a broker', () => {
  let b: RunningBroker;
  beforeAll(async () => {
    b = await startBroker(sdkConfig());
  });
  afterAll(() => b.close());

  it('delivers once a publish whose acknowledgement was lost', async () => {
    const reader = sdkClient({ url: b.url, token: token('reader') });
    const room = reader.join('retry:1');
    const seen = record(room);
    await room.joined;
    // What the broker receives: the same publish twice, with one key.
    const received: PublishRequest[] = [];
    b.broker.io.of('/').on('connection', (socket) =>
      socket.onAny((event: string, payload: PublishRequest) => {
        if (event === 'publish') received.push(payload);
      }),
    );
    const writer = sdkClient({
      url: b.url,
      token: token('writer'),
      ackTimeoutMs: 300,
      socketOptions: { parser: { Encoder: parser.Encoder, Decoder: AckLosingDecoder } },
    });
    const res = await writer.publish('retry:1', 'msg', { text: 'once' });
    expect(res).toMatchObject({ ok: true, offset: 1 });
    expect(received).toHaveLength(2);
    expect(received[1]).toEqual(received[0]);
    expect(await writer.publish('retry:1', 'msg', { text: 'next' })).toMatchObject({ ok: true, offset: 2 });
    await until(() => seen.offsets.length === 2, 5000, 'both messages');
    expect(seen.data).toEqual([{ text: 'once' }, { text: 'next' }]);
  });

  it('answers a publish it cannot encode with bad_request, and nothing waits on it after', async () => {
    const writer = sdkClient({ url: b.url, token: token('bigint-writer') });
    const room = writer.join('retry:bigint');
    const seen = record(room);
    await room.joined;
    // JSON has no BigInt: socket.io-client throws while encoding. The SDK answers, never rejects.
    const res = await room.publish('msg', { n: 10n } as never);
    expect(res).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    // A rejoin whose replay holds a message: not held back by the publish that failed.
    const reader = sdkClient({ url: b.url, token: token('bigint-reader') });
    await nextClientEvent(reader, 'connected');
    for (const socket of b.broker.io.of('/').sockets.values())
      if (socket.data.client?.sub === 'bigint-writer') socket.conn.close();
    expect(await reader.publish('retry:bigint', 'msg', { text: 'while away' })).toMatchObject({ ok: true });
    await until(() => seen.data.length === 1, 5000, 'the replayed message');
    expect(seen.data).toEqual([{ text: 'while away' }]);
  });

  it('does not hand a joined room its own message when the rejoin replays it before the retried publish is answered', async () => {
    const writer = sdkClient({
      url: b.url,
      token: token('own-writer'),
      ackTimeoutMs: 5000,
      socketOptions: { parser: { Encoder: parser.Encoder, Decoder: SwitchedAckLosingDecoder } },
    });
    const room = writer.join('retry:own');
    const seen = record(room);
    await room.joined;
    const reader = sdkClient({ url: b.url, token: token('own-reader') });
    const other = reader.join('retry:own');
    const others = record(other);
    await other.joined;

    // The broker applies the publish (offset 1) and its acknowledgement is lost; then the
    // connection drops, the SDK rejoins from offset 0 (the replay holds offset 1) and sends the
    // publish again with the same key.
    loseNextAck = true;
    const published = room.publish('msg', { text: 'mine' });
    await until(() => others.offsets.length === 1, 5000, 'the publish applied');
    for (const socket of b.broker.io.of('/').sockets.values())
      if (socket.data.client?.sub === 'own-writer') socket.conn.close();
    expect(await published).toMatchObject({ ok: true, offset: 1 });

    expect(await reader.publish('retry:own', 'msg', { text: 'theirs' })).toMatchObject({
      ok: true,
      offset: 2,
    });
    await until(() => seen.offsets.length > 0, 5000, 'the next message');
    expect(seen.offsets).toEqual([2]);
    expect(seen.data).toEqual([{ text: 'theirs' }]);
    expect(room.position).toMatchObject({ offset: 2 });
  });
});
