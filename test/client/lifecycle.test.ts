import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { ClientError } from '../../src/client/index.js';
import { type RunningBroker, startBroker, token, until, within } from '../helpers/broker.js';
import { closeSdkClients, nextClientEvent, sdkClient, sdkConfig } from './helpers.js';

/**
 * The SDK's own lifecycle: `disconnect()` and `connect()` back to back, a refused token replaced
 * through `getToken`, a join retry that comes while the client is stopped, and `joined` of a room
 * the client never got to join.
 */
let b: RunningBroker;
let limited: RunningBroker;
beforeAll(async () => {
  [b, limited] = await Promise.all([
    startBroker(sdkConfig()),
    // One event a second: of two joins sent together, one is refused `rate_limited` (temporary).
    startBroker(sdkConfig({ limits: { eventsPerSecond: 1 } })),
  ]);
});
afterEach(() => closeSdkClients());
afterAll(async () => {
  await Promise.all([b?.close(), limited?.close()]);
});

describe('SDK lifecycle', () => {
  it('connects again when connect() follows disconnect() in the same tick', async () => {
    const client = sdkClient({ url: b.url, token: token('alice') });
    await until(() => client.state === 'connected', 5000, 'connected');
    const down = nextClientEvent(client, 'disconnected');
    client.disconnect();
    client.connect();
    expect(await down).toMatchObject({ reason: 'client disconnect' });
    await until(() => client.state === 'connected', 5000, 'connected again');
  });

  it('asks getToken for another token after a refused one, instead of sending it again', async () => {
    let calls = 0;
    const client = sdkClient({
      url: b.url,
      token: 'not-a-jwt',
      getToken: () => {
        calls++;
        return token('bob');
      },
    });
    expect((await nextClientEvent(client, 'disconnected')).error?.code).toBe('token_invalid');
    expect(calls).toBe(0);
    client.connect();
    await until(() => client.state === 'connected', 5000, 'connected with a new token');
    expect(calls).toBe(1);
  });

  it('answers joined of a room never joined when the client stops, and joins it on the next connect()', async () => {
    let good = false;
    const client = sdkClient({
      url: b.url,
      token: 'not-a-jwt',
      getToken: () => (good ? token('carol') : 'still-bad'),
    });
    const room = client.join('chat:never');
    const first = await within(room.joined, 5000, 'joined answered');
    expect(first).toMatchObject({ ok: false, error: { code: 'token_invalid' } });
    good = true;
    client.connect();
    await until(() => client.room('chat:never')?.status === 'joined', 5000, 'joined after connect()');
  });

  it('keeps a room whose join retry comes while the client is stopped, and joins it on the next connect()', async () => {
    const client = sdkClient({ url: limited.url, token: token('dave') });
    const errors: ClientError[] = [];
    client.on('error', (e) => errors.push(e));
    const refused = new Promise<void>((resolve) =>
      client.on('error', (e) => {
        if (e.code === 'rate_limited') resolve();
      }),
    );
    // The SDK's join retry is a timer of its own (1 s): a fake clock runs it at once, while the
    // client is stopped. Only timers set from here on are fake; the vitest timeout stays real.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      client.join('lim:a');
      client.join('lim:b');
      await refused;
      const stopped = new Promise<void>((resolve) => client.once('disconnected', () => resolve()));
      client.disconnect();
      await stopped;
      vi.advanceTimersByTime(1100);
    } finally {
      vi.useRealTimers();
    }
    expect(errors.map((e) => e.code)).not.toContain('closed');
    client.connect();
    for (const name of ['lim:a', 'lim:b'])
      await until(() => client.room(name)?.status === 'joined', 10_000, `${name} joined after connect()`);
  });

  it('bounds getToken by connectTimeoutMs, and disconnect() does not wait for it', async () => {
    let calls = 0;
    const client = sdkClient({
      url: b.url,
      connectTimeoutMs: 300,
      getToken: () => {
        calls++;
        return new Promise<string>(() => undefined); // never answers
      },
    });
    const err = await nextClientEvent(client, 'error');
    expect(err).toMatchObject({
      code: 'get_token_failed',
      message: expect.stringContaining('within 300 ms'),
    });
    await until(() => calls >= 2, 10_000, 'getToken asked again');
    const down = nextClientEvent(client, 'disconnected');
    client.disconnect();
    expect(await within(down, 1000, 'disconnected while getToken hangs')).toMatchObject({
      reason: 'client disconnect',
    });
  });

  it('leaves a room while stopped: ok, and the next connect() does not rejoin it', async () => {
    const client = sdkClient({ url: b.url, token: token('erin') });
    const room = client.join('chat:left-offline');
    expect(await within(room.joined, 5000, 'joined')).toMatchObject({ ok: true });
    client.disconnect();
    await until(() => client.state === 'disconnected', 5000, 'stopped');
    expect(await room.leave()).toEqual({ ok: true });
    expect(client.room('chat:left-offline')).toBeUndefined();
    client.connect();
    await until(() => client.state === 'connected', 5000, 'connected again');
    expect(client.room('chat:left-offline')).toBeUndefined();
  });

  it('answers joined at once for a room joined after the client stopped (a refused token)', async () => {
    const client = sdkClient({ url: b.url, token: 'not-a-jwt' });
    await nextClientEvent(client, 'disconnected');
    const room = client.join('chat:after-stop');
    expect(await within(room.joined, 1000, 'joined answered')).toMatchObject({
      ok: false,
      error: { code: 'token_invalid' },
    });
  });
  it('sends a leave the server refused for now (rate_limited) again, until the server has left the room', async () => {
    const client = sdkClient({ url: limited.url, token: token('erin') });
    const room = client.join('lim:leave');
    expect(await room.joined).toMatchObject({ ok: true });
    // One event a second: the leave right after the join is refused `rate_limited`, then sent again.
    const left = room.leave();
    expect(await within(left, 10_000, 'the leave')).toEqual({ ok: true });
    const presence = await limited.broker.engine.members('/', 'lim:leave');
    expect(presence).toEqual([]);
  });

  it('gives the since a room was joined with as its position until it has one of its own', async () => {
    const client = sdkClient({ url: 'http://127.0.0.1:1', token: token('fay') });
    const since = { offset: 42, epoch: 'ep-before' };
    const room = client.join('pos:1', { since });
    expect(room.position).toEqual(since);
    expect(client.join('pos:2').position).toBeNull();
  });
  it('gives up a connection attempt the server accepts and never completes after connectTimeoutMs, and tries again', async () => {
    // A namespace middleware that never answers (a stalled node): the Engine.IO handshake is done,
    // the namespace's CONNECT is never answered.
    b.broker.io.of('/').use((socket, next) => {
      if (socket.data.client?.sub !== 'stalled') next();
    });
    let attempts = 0;
    b.broker.io.engine.on('connection', () => attempts++);
    const client = sdkClient({ url: b.url, token: token('stalled'), connectTimeoutMs: 300 });
    await until(() => attempts >= 2, 10_000, 'a second attempt');
    expect(client.state).not.toBe('connected');
    client.disconnect();
  });
  it('takes Infinity as "no limit" for its timeouts, not as a timer that fires at once', async () => {
    const client = sdkClient({
      url: b.url,
      token: token('hal'),
      getToken: () => token('hal'),
      connectTimeoutMs: Number.POSITIVE_INFINITY,
      ackTimeoutMs: Number.POSITIVE_INFINITY,
    });
    const room = client.join('inf:1');
    expect(await within(room.joined, 5000, 'joined')).toMatchObject({ ok: true });
    expect(await room.publish('e', 1)).toMatchObject({ ok: true });
  });
  it('gives a refused leave up when the room is joined again meanwhile: the new join stands', async () => {
    const client = sdkClient({ url: limited.url, token: token('ivy') });
    const room = client.join('lim:again');
    expect(await room.joined).toMatchObject({ ok: true });
    // One event a second: the leave is refused `rate_limited` and waits to be sent again.
    const left = room.leave();
    const again = client.join('lim:again');
    expect(await within(left, 10_000, 'the leave')).toMatchObject({
      ok: false,
      error: { code: 'rate_limited' },
    });
    expect(await within(again.joined, 10_000, 'joined again')).toMatchObject({ ok: true });
    expect(await limited.broker.engine.members('/', 'lim:again')).toMatchObject([{ sub: 'ivy' }]);
  });
});
