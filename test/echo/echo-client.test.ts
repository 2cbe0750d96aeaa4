import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
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
import {
  type AuthServer,
  atLeast,
  closeEchoClients,
  echoClient,
  rawEvents,
  rawSocket,
  recorder,
  startAuthServer,
} from '../helpers/laravel.js';
import { tempFile } from '../helpers/tmp.js';

/**
 * Unmodified `laravel-echo` (Socket.IO connector) with `socket.io-client` in Node against one
 * roomcast node, channel auth answered by Laravel's own RedisBroadcaster::auth() under `php -S`.
 */
const APP = { appId: 'app-1', key: 'app-key-0123456789' };
const ALICE = 'laravel_session=user-1';
const BOB = 'laravel_session=user-2';

let auth: AuthServer;
let rc: RunningBroker;

beforeAll(async () => {
  auth = await startAuthServer({ AUTH_LOG: tempFile('auth.jsonl', '') });
  rc = await startBroker(
    testConfig({ namespaces: { '/': { echo: { authHost: auth.url, apps: [APP], subscribeRedis: false } } } }),
  );
});
afterEach(() => {
  closeEchoClients();
  closeClients();
});
afterAll(async () => {
  await rc?.close();
  await auth?.stop();
});

function api(method: string, path: string, body?: unknown, key = APP.key) {
  return fetch(`${rc.url}/apps/${APP.appId}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
}

/** Broadcasts as Laravel's laravel-echo-server HTTP route did. */
async function broadcast(channels: string[], name: string, data: unknown, socketId?: string) {
  const res = await api('POST', '/events', {
    channels,
    name,
    data,
    ...(socketId ? { socket_id: socketId } : {}),
  });
  expect(res).toEqual({ status: 200, body: { message: 'ok' } });
}

/** Waits until `n` connections are subscribed to `channel` (the HTTP API's own count). */
async function subscribed(channel: string, n: number) {
  await until(
    async () => (await api('GET', `/channels/${channel}`)).body.subscription_count === n,
    8000,
    `${n} subscriptions to ${channel}`,
  );
}

describe('Laravel Echo against roomcast (one node)', () => {
  it('public channel: listen() gets a broadcast, and it is a roomcast message of the same room (offset, history)', async () => {
    const alice = await echoClient(rc.url);
    const shipped = recorder();
    const roomcastShaped = rawEvents(alice, 'message');
    alice.channel('orders').listen('OrderShipped', shipped.cb);
    // A roomcast SDK client (a token) in the same namespace and room gets the same message live.
    const sdk = await connect(rc.url, token('carol'));
    // Admitted as in any namespace: the token is remembered by its hash, not kept in the handshake.
    expect(rc.broker.namespaces.get('/')?.nsp.sockets.get(sdk.id ?? '')?.handshake.auth).toEqual({});
    const live = collect<{ event: string; offset: number }>(sdk, 'message');
    expect((await request(sdk, 'join', { room: 'orders' })).ok).toBe(true);
    await subscribed('orders', 2);
    await broadcast(['orders'], 'App\\Events\\OrderShipped', { order: { id: 7 }, socket: null });
    await atLeast(shipped.seen, 1);
    await atLeast(live, 1);
    expect(shipped.seen).toEqual([{ order: { id: 7 }, socket: null }]);
    expect(live[0]).toMatchObject({ room: 'orders', event: 'App\\Events\\OrderShipped', offset: 1 });
    expect(roomcastShaped).toEqual([]);

    const history = await request(sdk, 'history', { room: 'orders' });
    expect(history.ok).toBe(true);
    const messages = history.messages as { event: string; data: unknown; offset: number }[];
    expect(messages.map((m) => [m.event, m.data])).toEqual([
      ['App\\Events\\OrderShipped', { order: { id: 7 }, socket: null }],
    ]);
    expect(messages[0]!.offset).toBe(history.offset);
  });

  it('private channel: authorized by the app with the forwarded cookie; a denied one gets subscription_error 403 and none of its events', async () => {
    const alice = await echoClient(rc.url, { cookie: ALICE, csrf: 'csrf-token-1' });
    const errors = rawEvents(alice, 'subscription_error');
    const orders = recorder();
    const secret = recorder();
    alice.private('orders.42').listen('.order.updated', orders.cb);
    alice.private('secret.1').listen('.order.updated', secret.cb);
    await subscribed('private-orders.42', 1);
    await atLeast(errors, 1, 'subscription_error');
    expect(errors).toEqual([['private-secret.1', 403]]);

    await broadcast(['private-secret.1', 'private-orders.42'], 'order.updated', { id: 42 });
    await atLeast(orders.seen, 1);
    expect(orders.seen).toEqual([{ id: 42 }]);
    expect(secret.seen).toEqual([]);

    // What the app saw: a form POST with the client's auth.headers, its cookie, X-Requested-With.
    const log = (await (await fetch(`${auth.url}/log`)).json()) as {
      headers: Record<string, string>;
      input: Record<string, string>;
      method: string;
    }[];
    const seen = log.find((l) => l.input.channel_name === 'private-orders.42' && l.headers.cookie === ALICE);
    expect(seen).toMatchObject({
      method: 'POST',
      headers: {
        'x-csrf-token': 'csrf-token-1',
        'x-requested-with': 'XMLHttpRequest',
        'content-type': 'application/x-www-form-urlencoded',
      },
    });
    expect(seen?.input.socket_id).toBe(alice.socketId());

    const guest = await echoClient(rc.url);
    const guestErrors = rawEvents(guest, 'subscription_error');
    guest.private('orders.42');
    await atLeast(guestErrors, 1, 'subscription_error');
    expect(guestErrors).toEqual([['private-orders.42', 403]]);
  });

  it('whisper / listenForWhisper on a private channel reach the others and not the sender; a whisper to a public channel is refused', async () => {
    const alice = await echoClient(rc.url, { cookie: ALICE });
    const bob = await echoClient(rc.url, { cookie: BOB });
    const toBob = recorder();
    const toAlice = recorder();
    alice.private('orders.42').listenForWhisper('typing', toAlice.cb);
    bob.private('orders.42').listenForWhisper('typing', toBob.cb);
    await subscribed('private-orders.42', 2);
    alice.private('orders.42').whisper('typing', { name: 'Alice' });
    await atLeast(toBob.seen, 1, 'whisper');
    bob.private('orders.42').whisper('typing', { name: 'Bob' });
    await atLeast(toAlice.seen, 1, 'whisper');
    expect(toBob.seen).toEqual([{ name: 'Alice' }]);
    expect(toAlice.seen).toEqual([{ name: 'Bob' }]);

    // A public channel takes no whispers: the sender is told, nobody gets it.
    const aliceErrors = rawEvents(alice, 'roomcast:error');
    const onPublic = recorder();
    const shipped = recorder();
    bob.channel('news').listenForWhisper('typing', onPublic.cb).listen('.shipped', shipped.cb);
    alice.channel('news');
    await subscribed('news', 2);
    rawSocket(alice).emit('client event', { channel: 'news', event: 'client-typing', data: { x: 1 } });
    await atLeast(aliceErrors, 1, 'roomcast:error');
    expect(aliceErrors[0]![0]).toMatchObject({ code: 'forbidden', event: 'client event' });
    await broadcast(['news'], 'shipped', { after: true });
    await atLeast(shipped.seen, 1);
    expect(onPublic.seen).toEqual([]);
  });

  it('presence: here, joining and leaving, one member per user however many connections', async () => {
    const alice = await echoClient(rc.url, { cookie: ALICE });
    const here = recorder<unknown[]>();
    const joining = recorder();
    const leaving = recorder();
    alice.join('chat.1').here(here.cb).joining(joining.cb).leaving(leaving.cb);
    await atLeast(here.seen, 1, 'here');
    expect(here.seen[0]).toEqual([{ id: 1, name: 'Alice' }]);

    const bob = await echoClient(rc.url, { cookie: BOB });
    const bobHere = recorder<unknown[]>();
    bob.join('chat.1').here(bobHere.cb);
    await atLeast(joining.seen, 1, 'joining');
    expect(joining.seen).toEqual([{ id: 2, name: 'Bob' }]);
    await atLeast(bobHere.seen, 1, 'here');
    expect(bobHere.seen[0]).toEqual(
      expect.arrayContaining([
        { id: 1, name: 'Alice' },
        { id: 2, name: 'Bob' },
      ]),
    );

    // Bob's second tab: one member still; its closing is no leaving.
    const bobTab = await echoClient(rc.url, { cookie: BOB });
    const tabHere = recorder<unknown[]>();
    bobTab.join('chat.1').here(tabHere.cb);
    await atLeast(tabHere.seen, 1, 'here');
    expect(tabHere.seen[0]).toHaveLength(2);
    bobTab.disconnect();
    await subscribed('presence-chat.1', 2);
    bob.leave('chat.1');
    await atLeast(leaving.seen, 1, 'leaving');
    expect(leaving.seen).toEqual([{ id: 2, name: 'Bob' }]);
    expect(joining.seen).toHaveLength(1);
    const users = await api('GET', '/channels/presence-chat.1/users');
    expect(users.body).toEqual({ users: [{ id: 1, user_info: { id: 1, name: 'Alice' } }] });
  });

  it("toOthers: the socket named in socket_id does not get the broadcast; leave() stops a channel's events", async () => {
    const alice = await echoClient(rc.url);
    const bob = await echoClient(rc.url);
    const toAlice = recorder();
    const toBob = recorder();
    alice.channel('orders').listen('.updated', toAlice.cb);
    bob.channel('orders').listen('.updated', toBob.cb);
    await subscribed('orders', 2);
    await broadcast(['orders'], 'updated', { n: 1 }, alice.socketId());
    await broadcast(['orders'], 'updated', { n: 2 });
    await atLeast(toAlice.seen, 1);
    await atLeast(toBob.seen, 2);
    expect(toAlice.seen).toEqual([{ n: 2 }]);
    expect(toBob.seen).toEqual([{ n: 1 }, { n: 2 }]);

    alice.leave('orders');
    await subscribed('orders', 1);
    await broadcast(['orders'], 'updated', { n: 3 });
    await atLeast(toBob.seen, 3);
    expect(toAlice.seen).toEqual([{ n: 2 }]);
  });

  it('reconnect: Echo (>= 2.1.6) subscribes again on its new connection, private channel re-authorized', async () => {
    const bob = await echoClient(rc.url, { cookie: BOB });
    const got = recorder();
    bob.private('orders.42').listen('.order.updated', got.cb);
    await subscribed('private-orders.42', 1);
    const first = bob.socketId() ?? '';
    const socket = rawSocket(bob);
    const back = new Promise<void>((resolve) => socket.io.once('reconnect', () => resolve()));
    socket.io.engine.close();
    await back;
    expect(bob.socketId()).not.toBe(first);
    await until(() => !rc.broker.io.of('/').sockets.has(first), 5000, 'the old connection to go');
    await subscribed('private-orders.42', 1);
    await broadcast(['private-orders.42'], 'order.updated', { again: true });
    await atLeast(got.seen, 1);
    expect(got.seen).toEqual([{ again: true }]);
  });

  it('graceful restart: Echo reconnects by itself to the node that comes back, and subscribes again', async () => {
    const echoConfig = {
      namespaces: { '/': { echo: { authHost: auth.url, apps: [APP], subscribeRedis: false } } },
    };
    const first = await startBroker(testConfig(echoConfig));
    let second: RunningBroker | undefined;
    try {
      const bob = await echoClient(first.url, { cookie: BOB });
      const got = recorder();
      bob.private('orders.7').listen('.order.updated', got.cb);
      // fetch may reuse a kept-alive connection to the node that stopped: that read is a miss, not a failure.
      const count = async (b: RunningBroker) => {
        const url = `${b.url}/apps/${APP.appId}/channels/private-orders.7?auth_key=${APP.key}`;
        const res = await fetch(url).catch(() => undefined);
        return res ? ((await res.json()) as { subscription_count?: number }).subscription_count : undefined;
      };
      await until(async () => (await count(first)) === 1, 8000, 'the first subscription');
      const reasons: string[] = [];
      rawSocket(bob).on('disconnect', (reason) => reasons.push(reason));
      await first.close();
      // The same port again, as a restarted node behind the same address.
      second = await startBroker(testConfig({ ...echoConfig, port: first.port }));
      const again = second;
      await until(async () => (await count(again)) === 1, 15_000, 'Echo to subscribe again on the new node');
      // `io server disconnect` would have stopped Socket.IO's reconnection for good.
      expect(reasons).toEqual(['transport close']);
      const res = await fetch(`${again.url}/apps/${APP.appId}/events?auth_key=${APP.key}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ channels: ['private-orders.7'], name: 'order.updated', data: { back: true } }),
      });
      expect(res.status).toBe(200);
      await atLeast(got.seen, 1);
      expect(got.seen).toEqual([{ back: true }]);
    } finally {
      await first.close();
      await second?.close();
    }
  }, 30_000);

  it("laravel-echo-server's HTTP API: channel queries, its key by header or auth_key, its 400 and 403 replies", async () => {
    const alice = await echoClient(rc.url, { cookie: ALICE });
    alice.channel('lobby');
    alice.join('chat.9');
    await subscribed('presence-chat.9', 1);
    await subscribed('lobby', 1);
    const all = await api('GET', '/channels');
    expect(all.body.channels).toMatchObject({ lobby: { subscription_count: 1, occupied: true } });
    expect((await api('GET', '/channels/presence-chat.9')).body).toEqual({
      subscription_count: 1,
      occupied: true,
      user_count: 1,
    });
    expect((await api('GET', '/channels/nobody-here')).body).toEqual({
      subscription_count: 0,
      occupied: false,
    });
    expect(await api('GET', '/channels/lobby/users')).toEqual({
      status: 400,
      body: { error: 'User list is only possible for Presence Channels' },
    });
    const status = await api('GET', '/status');
    expect(status.body).toMatchObject({ subscription_count: expect.any(Number), uptime: expect.any(Number) });
    expect(status.body.subscription_count).toBeGreaterThanOrEqual(1);
    const byQuery = await fetch(`${rc.url}/apps/${APP.appId}/channels?auth_key=${APP.key}`);
    expect(byQuery.status).toBe(200);
    expect(await api('GET', '/channels', undefined, 'wrong-key-123')).toEqual({
      status: 403,
      body: { error: 'Unauthorized' },
    });
    expect((await fetch(`${rc.url}/apps/other/channels?auth_key=${APP.key}`)).status).toBe(403);
    expect(await api('POST', '/events', { channel: 'lobby', name: 'x' })).toEqual({
      status: 400,
      body: { error: 'Event must include channel, event name and data' },
    });
    expect((await api('POST', '/events', '{not json')).status).toBe(400);
    expect(
      (await api('POST', '/events', { channel: 'bad channel!', name: 'x', data: { a: 1 } })).status,
    ).toBe(400);
  });
});
