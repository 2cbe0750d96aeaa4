import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Socket } from 'socket.io-client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  closeClients,
  connect,
  type RunningBroker,
  startBroker,
  testConfig,
  until,
} from '../helpers/broker.js';

/**
 * Bad input at the Echo namespace, from a raw Socket.IO client (no token, as Echo connects), with
 * a stand-in Laravel app whose auth endpoint misbehaves on purpose.
 */
let app: Server;
let appUrl: string;
const authRequests: string[] = [];
const hanging: ServerResponse[] = [];
let rc: RunningBroker;

/** The stand-in app: what it answers depends on the channel asked for. */
function answer(req: IncomingMessage, res: ServerResponse): void {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const channel = new URLSearchParams(body).get('channel_name') ?? '';
    authRequests.push(channel);
    const send = (status: number, text: string) => res.writeHead(status).end(text);
    if (channel.startsWith('private-slow')) return void hanging.push(res);
    if (channel === 'private-fails') return send(500, 'Server Error');
    if (channel === 'private-html') return send(200, '<html>Please log in</html>');
    if (channel === 'presence-no-data') return send(200, 'true');
    if (channel === 'presence-bad-data') return send(200, '{"channel_data":{"user_info":{"name":"no id"}}}');
    if (channel === 'presence-placeholder-info')
      return send(200, '{"channel_data":{"user_id":"u-6","user_info":{"_placeholder":true,"num":0}}}');
    if (channel === 'presence-pusher')
      return send(
        200,
        JSON.stringify({ channel_data: JSON.stringify({ user_id: 'u-5', user_info: { n: 5 } }) }),
      );
    send(200, 'true');
  });
}

beforeAll(async () => {
  app = createServer(answer);
  await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
  appUrl = `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
  rc = await startBroker(
    testConfig({
      namespaces: {
        '/': {
          echo: { authHost: appUrl, authTimeoutMs: 400, maxConcurrentAuth: 2, subscribeRedis: false },
          limits: { eventsPerSecond: 30, roomsPerConnection: 10 },
        },
      },
    }),
  );
});
afterEach(() => {
  closeClients();
  for (const res of hanging.splice(0)) res.destroy();
});
afterAll(async () => {
  await rc?.close();
  await new Promise((r) => app.close(r));
});

async function echoSocket(): Promise<Socket> {
  return (await connect(rc.url, undefined, { auth: { headers: {} } })) as unknown as Socket;
}

function events(socket: Socket, name: string): unknown[][] {
  const seen: unknown[][] = [];
  socket.on(name, (...args: unknown[]) => seen.push(args));
  return seen;
}

async function connections(room: string): Promise<number> {
  const stats = await rc.broker.engine.rooms('/', room);
  return stats.find((s) => s.room === room)?.connections ?? 0;
}

describe('Echo namespace: bad input', () => {
  it('unknown events and malformed payloads get roomcast:error bad_request, and the connection goes on', async () => {
    const s = await echoSocket();
    const errors = events(s, 'roomcast:error');
    s.emit('join', { room: 'orders' });
    s.emit('subscribe', 'orders');
    s.emit('subscribe', {});
    s.emit('subscribe', { channel: 42 });
    s.emit('unsubscribe', null);
    s.emit('client event', 'x');
    s.emit('client event', { channel: 'private-a', event: 7, data: {} });
    await until(() => errors.length === 7, 5000, '7 errors');
    expect(errors.map(([e]) => (e as { code: string }).code)).toEqual(Array(7).fill('bad_request'));
    expect(errors[0]![0]).toMatchObject({ event: 'join', message: 'unknown event "join"' });
    s.emit('subscribe', { channel: 'orders', auth: { headers: {} } });
    await until(async () => (await connections('orders')) === 1, 5000, 'subscribed');
    expect(s.connected).toBe(true);
  });

  it('channel names outside the room grammar get subscription_error 400 and no auth request', async () => {
    const s = await echoSocket();
    const refused = events(s, 'subscription_error');
    const before = authRequests.length;
    for (const channel of ['has space', 'private-ünïcode', 'a'.repeat(201), '', 'private-x#y'])
      s.emit('subscribe', { channel, auth: { headers: {} } });
    await until(() => refused.length === 5, 5000, '5 refusals');
    expect(refused.map(([, status]) => status)).toEqual([400, 400, 400, 400, 400]);
    expect(refused[2]![0]).toHaveLength(200);
    expect(authRequests.length).toBe(before);
  });

  it('a failing, slow or nonsensical auth endpoint refuses that subscription with subscription_error, within the timeout', async () => {
    const s = await echoSocket();
    const refused = events(s, 'subscription_error');
    const started = Date.now();
    // Two at a time: maxConcurrentAuth is 2 here.
    for (const channel of ['private-fails', 'private-html'])
      s.emit('subscribe', { channel, auth: { headers: {} } });
    await until(() => refused.length === 2, 5000, '2 refusals');
    for (const channel of ['presence-no-data', 'presence-bad-data'])
      s.emit('subscribe', { channel, auth: { headers: {} } });
    await until(() => refused.length === 4, 5000, '4 refusals');
    // A user_info that would break other clients' binary replays (a placeholder look-alike).
    s.emit('subscribe', { channel: 'presence-placeholder-info', auth: { headers: {} } });
    await until(() => refused.length === 5, 5000, '5 refusals');
    expect(Object.fromEntries(refused)).toEqual({
      'private-fails': 500,
      'private-html': 502,
      'presence-no-data': 502,
      'presence-bad-data': 502,
      'presence-placeholder-info': 502,
    });
    s.emit('subscribe', { channel: 'private-slow', auth: { headers: {} } });
    await until(() => refused.length === 6, 5000, 'timeout refusal');
    expect(refused[5]).toEqual(['private-slow', 0]);
    expect(Date.now() - started).toBeLessThan(3000);
    // Pusher-style channel_data (a JSON string) is a member.
    const members = events(s, 'presence:subscribed');
    s.emit('subscribe', { channel: 'presence-pusher', auth: { headers: {} } });
    await until(() => members.length === 1, 5000, 'presence:subscribed');
    expect(members[0]).toEqual(['presence-pusher', [{ user_id: 'u-5', user_info: { n: 5 } }]]);
    expect(s.connected).toBe(true);
  });

  it('at most maxConcurrentAuth auth requests at once: the rest are refused at once with 503', async () => {
    const s = await echoSocket();
    const refused = events(s, 'subscription_error');
    for (let i = 0; i < 4; i++) s.emit('subscribe', { channel: `private-slow-${i}`, auth: { headers: {} } });
    await until(() => refused.length === 4, 5000, '4 refusals');
    expect(refused.map(([, status]) => status).sort()).toEqual([0, 0, 503, 503]);
  });

  it('a subscribe flood is cut by the event rate and the channel limit, with subscription_error for each refused one', async () => {
    const s = await echoSocket();
    const refused = events(s, 'subscription_error');
    for (let i = 0; i < 60; i++) s.emit('subscribe', { channel: `flood-${i}`, auth: { headers: {} } });
    await until(() => refused.length >= 50, 5000, '50 refusals');
    const statuses = new Set(refused.map(([, status]) => status));
    expect([...statuses].every((st) => st === 429 || st === 400)).toBe(true);
    const joined = (await rc.broker.engine.rooms('/', 'flood-')).length;
    expect(joined).toBe(10);
    expect(refused.length).toBe(50);
    expect(s.connected).toBe(true);
  });

  it('whispers: only client-* events, only on a private or presence channel the socket is in, never to the sender', async () => {
    const alice = await echoSocket();
    const bob = await echoSocket();
    const aliceErrors = events(alice, 'roomcast:error');
    const bobGot = events(bob, 'client-typing');
    const aliceGot = events(alice, 'client-typing');
    const bobOther = events(bob, 'typing');
    for (const s of [alice, bob]) s.emit('subscribe', { channel: 'private-room', auth: { headers: {} } });
    await until(async () => (await connections('private-room')) === 2, 5000, 'both subscribed');
    alice.emit('client event', { channel: 'private-room', event: 'typing', data: {} });
    alice.emit('client event', { channel: 'private-other', event: 'client-typing', data: {} });
    alice.emit('client event', { channel: 'public-room', event: 'client-typing', data: {} });
    await until(() => aliceErrors.length === 3, 5000, '3 errors');
    expect(aliceErrors.map(([e]) => (e as { code: string }).code)).toEqual([
      'bad_request',
      'not_joined',
      'forbidden',
    ]);
    alice.emit('client event', { channel: 'private-room', event: 'client-typing', data: { n: 1 } });
    await until(() => bobGot.length === 1, 5000, 'the whisper');
    expect(bobGot).toEqual([['private-room', { n: 1 }]]);
    expect(aliceGot).toEqual([]);
    expect(bobOther).toEqual([]);
  });
});
