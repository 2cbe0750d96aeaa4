import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope, PresenceEvent } from '../../src/protocol.js';
import {
  closeClients,
  collect,
  connect,
  type RunningBroker,
  request,
  token,
  until,
} from '../helpers/broker.js';
import { api, brokersOnRedisCluster, roomChannel as slotKey, TEST_REDIS } from '../helpers/cluster.js';
import { cmd, type RedisClusterHandle } from '../helpers/redis-topologies.js';
import { readyz } from './stream-scenario.js';

/** A fault's own duration, or the window in which something must not happen: a set time. */
const past = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A Redis Cluster shard with no replica dies (SIGKILL) and comes back with its data (an append-only
 * file). Nothing can take its slots over meanwhile, so its rooms cannot be served: a publish there
 * is refused with `unavailable` (503) within the request timeout, never left hanging, while rooms
 * of the other shards go on (the cluster does not need full coverage). Once the shard is back, its
 * rooms are served again and the subscriptions there come back. They start a new epoch: the
 * restarted primary has a new replication ID and cannot show it holds every write of the old one
 * (docs/cluster.md, the failover guarantee), although with its append-only file it lost nothing.
 */
let cluster: RedisClusterHandle;
let nodes: RunningBroker[] = [];
let stop: (() => Promise<void>) | undefined;

beforeAll(async () => {
  ({ cluster, nodes, stop } = await brokersOnRedisCluster(2, {
    primaries: 3,
    replicasPerPrimary: 0,
    persist: true,
  }));
}, 60_000);
afterEach(() => closeClients());
afterAll(() => stop?.());

const publish = (node: RunningBroker, room: string, data: unknown) =>
  api(node.url, 'POST', '/v1/publish', { room, event: 'e', data });
/** The position a publish reply gives its one room. */
const position = (res: { body: Record<string, unknown> }) =>
  (res.body.results as { offset: number; epoch: string }[])[0]!;

describe('Redis Cluster: a shard with no replica dies and comes back', () => {
  it('refuses its rooms with unavailable while it is down, serves the others, and resumes in a new epoch', async () => {
    // Two rooms on different shards: `lost` on the shard that dies, `kept` on another.
    const names = Array.from({ length: 12 }, (_, i) => `loss:${i}`);
    const owners = await Promise.all(names.map(async (r) => (await cluster.primaryOf(slotKey(r))).port));
    const lost = names[0]!;
    const kept = names.find((_, i) => owners[i] !== owners[0])!;
    expect(kept).toBeDefined();

    const sub = await connect(nodes[1]!.url, token('sub'));
    const got = collect<Envelope>(sub, 'message');
    for (const room of [lost, kept]) expect(await request(sub, 'join', { room })).toMatchObject({ ok: true });
    const before = await publish(nodes[0]!, lost, 1);
    expect(before.status).toBe(200);
    await until(() => got.some((m) => m.room === lost && m.data === 1), 5000, 'the first message');

    await cluster.kill(owners[0]!);
    // The other shard's room goes on (the first publishes may meet a slot-map refresh).
    await until(
      async () => (await publish(nodes[0]!, kept, 'k')).status === 200,
      10_000,
      'a publish to the kept room',
    );
    // The lost shard's room is refused, in roomcast's words, within the request timeout.
    const refused = await until(
      async () => {
        const res = await publish(nodes[0]!, lost, 'x');
        return res.status === 503 ? res : null;
      },
      10_000,
      'a refusal in the lost room',
    );
    expect(refused.body).toMatchObject({ ok: false, error: { code: 'unavailable' } });
    // The nodes stay up.
    for (const n of nodes) expect((await api(n.url, 'GET', '/healthz')).status).toBe(200);

    await cluster.restart(owners[0]!);
    await cluster.waitForHealthy(20_000);
    // Served again, in a new epoch, and delivered to the subscriber. The refused publishes left
    // nothing behind: the command clients queue nothing while a node is away (no offline queue, no
    // retries), so the new epoch starts at offset 1.
    const again = await until(
      async () => {
        const res = await publish(nodes[0]!, lost, 2);
        return res.status === 200 ? res : null;
      },
      20_000,
      'a publish to the lost room after the restart',
    );
    expect(position(again).epoch).not.toBe(position(before).epoch);
    expect(position(again).offset).toBe(1);
    await until(() => got.some((m) => m.room === lost && m.data === 2), 15_000, 'delivery after the restart');
  }, 90_000);

  it('keeps presence while the shard of the node list is away longer than presenceTtlMs', async () => {
    // The Cluster client stays connected meanwhile: only failed heartbeats tell the nodes that
    // the others could not beat either. No node may reap the other once the shard is back.
    const listOwner = (await cluster.primaryOf('roomcast:{nodes}')).port;
    const names = Array.from({ length: 12 }, (_, i) => `pres:${i}`);
    const owners = await Promise.all(names.map(async (r) => (await cluster.primaryOf(slotKey(r))).port));
    const room = names.find((_, i) => owners[i] !== listOwner)!;
    expect(room).toBeDefined();
    const bob = await connect(nodes[0]!.url, token('bob'));
    await request(bob, 'join', { room });
    const events = collect<PresenceEvent>(bob, 'presence');
    const alice = await connect(nodes[1]!.url, token('alice'));
    await request(alice, 'join', { room });
    await until(
      () => events.some((e) => e.action === 'join' && e.member.sub === 'alice'),
      5000,
      'alice joined',
    );
    // Both nodes up longer than one TTL: they judge each other's heartbeats by now.
    await past(TEST_REDIS.presenceTtlMs);
    await cluster.kill(listOwner);
    // The fault lasts a set time: longer than a TTL, so every registration looks expired after it.
    await past(TEST_REDIS.presenceTtlMs + 1000);
    await cluster.restart(listOwner);
    await cluster.waitForHealthy(20_000);
    for (const n of nodes) await until(async () => (await readyz(n.url)) === 200, 15_000, 'ready again');
    // Two TTLs of good heartbeats: a node that took the other for dead would have reaped it by then.
    await past(2 * TEST_REDIS.presenceTtlMs);
    expect(events.filter((e) => e.action === 'leave')).toEqual([]);
    const members = await request<{ members: Array<{ sub: string }> }>(bob, 'presence', { room });
    expect(members.members?.map((m) => m.sub).sort()).toEqual(['alice', 'bob']);
  }, 90_000);
  it("still tells the room of a leave when the shard of the leaving node's own set is away", async () => {
    // On a Cluster a leave is the room's script, then an SREM on the node's set (another shard).
    // With that shard away, the room no longer has the connection: its leave must still be told.
    const leaver = await connect(nodes[0]!.url, token('leaver'));
    const listOwner = await cluster.primaryOf('roomcast:{nodes}');
    const ids = (await cmd(listOwner, 'ZRANGE', 'roomcast:{nodes}', 0, -1)) as string[];
    expect(ids).toHaveLength(2);
    // Node 0's set holds the leaver's memberships once it has joined a room.
    const names = Array.from({ length: 24 }, (_, i) => `gone:${i}`);
    await request(leaver, 'join', { room: names[0] });
    const sets = await Promise.all(
      ids.map(async (id) => {
        const key = `roomcast:node:${id}`;
        const members = (await cmd(await cluster.primaryOf(key), 'SMEMBERS', key)) as string[];
        return { key, mine: members.some((m) => m.includes(leaver.id!)) };
      }),
    );
    const setOwner = (await cluster.primaryOf(sets.find((x) => x.mine)!.key)).port;
    const owners = await Promise.all(names.map(async (r) => (await cluster.primaryOf(slotKey(r))).port));
    // Not names[0]: the leaver is in it already, and a second join is no presence event.
    const room = names.find((_, i) => i > 0 && owners[i] !== setOwner)!;
    expect(room).toBeDefined();

    const watcher = await connect(nodes[1]!.url, token('watcher'));
    expect(await request(watcher, 'join', { room })).toMatchObject({ ok: true });
    const events = collect<PresenceEvent>(watcher, 'presence');
    expect(await request(leaver, 'join', { room })).toMatchObject({ ok: true });
    await until(() => events.some((e) => e.action === 'join' && e.member.sub === 'leaver'), 5000, 'the join');

    await cluster.kill(setOwner);
    try {
      expect(await request(leaver, 'leave', { room })).toMatchObject({ ok: true });
      await until(
        () => events.some((e) => e.action === 'leave' && e.member.sub === 'leaver'),
        10_000,
        'the leave, told while the shard is away',
      );
    } finally {
      await cluster.restart(setOwner);
      await cluster.waitForHealthy(20_000);
      for (const n of nodes) await until(async () => (await readyz(n.url)) === 200, 15_000, 'ready again');
    }
    const members = await request<{ members: Array<{ sub: string }> }>(watcher, 'presence', { room });
    expect(members.members?.map((m) => m.sub)).toEqual(['watcher']);
  }, 90_000);

  it("lets a join stand, and tells it, when the rooms index's write fails after the room's; the index is repaired", async () => {
    // On a Cluster a join is the room's script, then a ZADD to the namespace's rooms index (another
    // slot). That ZADD is made to fail on its own here (the index key holds a string: WRONGTYPE),
    // as it does when the index's shard is away while the room's is not.
    const room = 'indexed:1';
    const indexKey = 'roomcast:rooms:/';
    const indexOwner = await cluster.primaryOf(indexKey);
    const watcher = await connect(nodes[1]!.url, token('watcher'));
    expect(await request(watcher, 'join', { room })).toMatchObject({ ok: true });
    const events = collect<PresenceEvent>(watcher, 'presence');
    // The other rooms' entries are put back afterwards; this room's is left to the repair.
    const saved = ((await cmd(indexOwner, 'ZRANGE', indexKey, 0, -1)) as string[]).filter((r) => r !== room);
    await cmd(indexOwner, 'DEL', indexKey);
    await cmd(indexOwner, 'SET', indexKey, 'not a sorted set');
    try {
      const joiner = await connect(nodes[0]!.url, token('joiner'));
      expect(await request(joiner, 'join', { room })).toMatchObject({ ok: true });
      await until(
        () => events.some((e) => e.action === 'join' && e.member.sub === 'joiner'),
        5000,
        'the join',
      );
    } finally {
      await cmd(indexOwner, 'DEL', indexKey);
      if (saved.length > 0) await cmd(indexOwner, 'ZADD', indexKey, ...saved.flatMap((r) => [0, r]));
    }
    // Only the joining node's reconcile can put the room back in the index.
    await until(
      async () => {
        const res = await api(nodes[1]!.url, 'GET', `/v1/rooms?prefix=${encodeURIComponent(room)}`);
        return JSON.stringify(res.body.rooms) === JSON.stringify([{ room, members: 2, connections: 2 }]);
      },
      10_000,
      'the room listed again, with both members',
    );
    const members = await request<{ members: Array<{ sub: string }> }>(watcher, 'presence', { room });
    expect(members.members?.map((m) => m.sub).sort()).toEqual(['joiner', 'watcher']);
  }, 60_000);
  it("does not let a frozen shard hold up a node's subscriptions on the other shards", async () => {
    // A frozen primary's kernel still accepts TCP connections: a connect to it reaches ioredis's
    // ready check, which waits with no timeout of its own. The shard chosen here holds neither the
    // node list nor the rooms index, so the node stays otherwise healthy.
    const busy = new Set([
      (await cluster.primaryOf('roomcast:{nodes}')).port,
      (await cluster.primaryOf('roomcast:rooms:/')).port,
    ]);
    const ports = new Set<number>();
    const roomOn = new Map<number, string>();
    for (let i = 0; roomOn.size < 3 && i < 1000; i++) {
      const room = `shard-probe:${i}`;
      const { port } = await cluster.primaryOf(slotKey(room));
      ports.add(port);
      if (!roomOn.has(port)) roomOn.set(port, room);
    }
    const frozen = [...ports].find((p) => !busy.has(p));
    if (frozen === undefined) throw new Error('no shard free of the node list and the rooms index');
    const healthy = [...ports].filter((p) => p !== frozen).map((p) => roomOn.get(p)!);
    const engine = nodes[1]!.broker.engine;
    cluster.freeze(frozen);
    try {
      // The frozen shard's subscription fails within its timeout (its connect is bounded)...
      await expect(engine.watch('/', roomOn.get(frozen)!)).rejects.toMatchObject({ code: 'unavailable' });
      // ...and the other shards' subscriptions, made while it is still frozen, are not held up.
      for (const room of healthy) await engine.watch('/', room);
    } finally {
      cluster.thaw(frozen);
      engine.unwatch('/', roomOn.get(frozen)!);
      for (const room of healthy) engine.unwatch('/', room);
    }
    await until(async () => (await readyz(nodes[1]!.url)) === 200, 10_000, 'ready again');
  }, 60_000);
  it("answers /readyz 503, and refuses a disconnect-by-user, while the Socket.IO adapter's channels are not attached", async () => {
    // The adapter's namespace channel (`roomcast#/#`) and this node's response channel live on
    // some shard. Its subscriber connections there are killed, and cannot come back while the
    // shard takes no new connection (maxclients 1, held by the control connection below).
    const shard = await cluster.primaryOf('roomcast#/#');
    await until(async () => (await readyz(nodes[0]!.url)) === 200, 10_000, 'ready');
    const victim = await connect(nodes[1]!.url, token('adapter-victim'));
    const control = new Redis({
      host: shard.host,
      port: shard.port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
    });
    control.on('error', () => undefined);
    await control.connect();
    try {
      await control.config('SET', 'maxclients', '1');
      const list = String(await control.client('LIST'));
      const ids = list
        .split('\n')
        .filter((line) => / name=roomcast-adapter /.test(line))
        .map((line) => /\bid=(\d+)/.exec(line)![1]!);
      expect(ids.length, list).toBeGreaterThan(0);
      for (const id of ids) await control.client('KILL', 'ID', id);
      await until(async () => (await readyz(nodes[0]!.url)) === 503, 5000, '/readyz 503');
      // The others cannot be asked: a retry is safe, an ok would say the user is gone everywhere.
      const res = await api(nodes[0]!.url, 'POST', '/v1/disconnect', { sub: 'adapter-victim' });
      expect(res).toMatchObject({ status: 503, body: { ok: false, error: { code: 'unavailable' } } });
      expect(victim.connected).toBe(true);
    } finally {
      await control.config('SET', 'maxclients', '10000');
      control.disconnect();
    }
    // Every node's, not only the asked one's: a node whose adapter channels are not back yet is
    // not among the subscribers the asked node counts, so it would not be asked (docs/cluster.md).
    for (const n of nodes)
      await until(async () => (await readyz(n.url)) === 200, 15_000, '/readyz 200 again');
    // Once back, the call reaches the other node (a 503 meanwhile, while the publish connection to
    // that shard comes back too, is the retry the API asks for).
    const res = await until(
      async () => {
        const r = await api(nodes[0]!.url, 'POST', '/v1/disconnect', { sub: 'adapter-victim' });
        return r.status === 503 ? undefined : r;
      },
      10_000,
      'a disconnect that is not refused',
    );
    expect(res.body).toEqual({ ok: true, disconnected: 1 });
  }, 60_000);
});
