import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker, testConfig, until } from '../helpers/broker.js';
import { TEST_REDIS } from '../helpers/cluster.js';
import {
  type AuthServer,
  atLeast,
  broadcastPhp,
  closeEchoClients,
  echoClient,
  recorder,
  startAuthServer,
} from '../helpers/laravel.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * Two roomcast nodes over a real redis-server, Laravel Echo clients on both, and Laravel's own
 * RedisBroadcaster (examples/laravel/broadcast.php) publishing into the same Redis.
 */
const PREFIX = 'laravel_database_';
const APP = { appId: 'app-1', key: 'app-key-0123456789' };
const cookie = (id: number) => `laravel_session=user-${id}`;

let redis: TestRedis;
let auth: AuthServer;
let nodes: RunningBroker[];

beforeAll(async () => {
  redis = await startRedis();
  auth = await startAuthServer();
  const config = () =>
    testConfig({
      redis: { ...TEST_REDIS, url: redis.url },
      namespaces: { '/': { echo: { authHost: auth.url, redisPrefix: PREFIX, apps: [APP] } } },
    });
  nodes = await Promise.all([startBroker(config()), startBroker(config())]);
  // Both nodes' Laravel subscribers are in place before anything is broadcast.
  await until(
    async () => (await redis.command('CLIENT', 'LIST')).match(/name=roomcast-echo .*psub=1/g)?.length === 2,
    8000,
    'two echo subscribers',
  );
});
afterEach(() => closeEchoClients());
afterAll(async () => {
  await Promise.all((nodes ?? []).map((n) => n.close()));
  await auth?.stop();
  await redis?.stop();
});

async function get(path: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${nodes[0]!.url}/apps/${APP.appId}${path}?auth_key=${APP.key}`);
  return (await res.json()) as Record<string, unknown>;
}

async function subscribed(channel: string, n: number): Promise<void> {
  await until(
    async () => (await get(`/channels/${channel}`)).subscription_count === n,
    8000,
    `${n} in ${channel}`,
  );
}

async function history(room: string): Promise<{ event: string; data: unknown; offset: number }[]> {
  const res = await fetch(`${nodes[1]!.url}/v1/rooms/${encodeURIComponent(room)}/history`, {
    headers: { authorization: `Bearer ${nodes[1]!.config.namespaces['/']!.apiKeys[0]}` },
  });
  const body = (await res.json()) as { messages: { event: string; data: unknown; offset: number }[] };
  return body.messages;
}

describe('Laravel Echo on a roomcast cluster', () => {
  it("Laravel's RedisBroadcaster: each broadcast is published once cluster-wide, reaches Echo clients on both nodes, and toOthers leaves the sender out", async () => {
    const [a, b] = nodes as [RunningBroker, RunningBroker];
    const alice = await echoClient(a.url, { cookie: cookie(1) });
    const bob = await echoClient(b.url, { cookie: cookie(2) });
    const toAlice = recorder();
    const toBob = recorder();
    const privateBob = recorder();
    alice.channel('orders').listen('OrderShipped', toAlice.cb);
    bob.channel('orders').listen('OrderShipped', toBob.cb);
    bob.private('orders.7').listen('OrderShipped', privateBob.cb);
    await subscribed('orders', 2);
    await subscribed('private-orders.7', 1);

    const env = { REDIS_PREFIX: PREFIX };
    await broadcastPhp(redis.port, ['--data={"order":{"id":7}}', 'orders', 'private-orders.7'], env);
    // The same broadcast again is a second message, not a duplicate of the first.
    await broadcastPhp(redis.port, ['--data={"order":{"id":7}}', 'orders'], env);
    // toOthers(): Laravel puts the X-Socket-ID of the request in `socket`.
    await broadcastPhp(
      redis.port,
      ['--data={"order":{"id":8}}', `--socket=${alice.socketId()}`, 'orders'],
      env,
    );
    await atLeast(toBob.seen, 3);
    await atLeast(privateBob.seen, 1);
    await atLeast(toAlice.seen, 2);
    const first = { order: { id: 7 }, socket: null };
    expect(toBob.seen).toEqual([first, first, { order: { id: 8 }, socket: alice.socketId() }]);
    expect(toAlice.seen).toEqual([first, first]);
    expect(privateBob.seen).toEqual([first]);
    // One message per broadcast in the room's history, although both nodes received each one.
    const stored = await history('orders');
    expect(stored.map((m) => [m.offset, m.event])).toEqual([
      [1, 'App\\Events\\OrderShipped'],
      [2, 'App\\Events\\OrderShipped'],
      [3, 'App\\Events\\OrderShipped'],
    ]);
  });

  it('presence across two nodes: here, joining and leaving, right under simultaneous joins and leaves', async () => {
    const [a, b] = nodes as [RunningBroker, RunningBroker];
    const carol = await echoClient(a.url, { cookie: cookie(3) });
    const joining = recorder<{ id: number }>();
    const leaving = recorder<{ id: number }>();
    const here = recorder<unknown[]>();
    carol.join('chat.1').here(here.cb).joining(joining.cb).leaving(leaving.cb);
    await atLeast(here.seen, 1, 'here');

    // Alice and Bob each on both nodes, all four at the same moment.
    const tabs = await Promise.all(
      [
        [a, 1],
        [b, 1],
        [a, 2],
        [b, 2],
      ].map(([node, id]) => echoClient((node as RunningBroker).url, { cookie: cookie(id as number) })),
    );
    const theirHere = tabs.map(() => recorder<unknown[]>());
    tabs.forEach((t, i) => void t.join('chat.1').here(theirHere[i]!.cb));
    await atLeast(joining.seen, 2, 'joining');
    await subscribed('presence-chat.1', 5);
    for (const h of theirHere) await atLeast(h.seen, 1, 'here');
    expect(joining.seen.map((m) => m.id).sort()).toEqual([1, 2]);
    const users = (await get('/channels/presence-chat.1/users')).users as { id: number }[];
    expect(users.map((u) => u.id).sort()).toEqual([1, 2, 3]);
    expect((await get('/channels/presence-chat.1')).user_count).toBe(3);

    // All four leave at once: one leaving per user.
    for (const t of tabs) t.disconnect();
    await atLeast(leaving.seen, 2, 'leaving');
    await subscribed('presence-chat.1', 1);
    expect(leaving.seen.map((m) => m.id).sort()).toEqual([1, 2]);
    expect(joining.seen).toHaveLength(2);
    expect((await get('/channels/presence-chat.1/users')).users).toEqual([
      { id: 3, user_info: { id: 3, name: 'Carol' } },
    ]);
  });
});
