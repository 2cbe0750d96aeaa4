import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope, Member, PresenceEvent } from '../../src/protocol.js';
import {
  closeClients,
  collect,
  connect,
  nextEvent,
  type RunningBroker,
  request,
  type TestClient,
  token,
  until,
} from '../helpers/broker.js';
import { api, roomChannel as channel, startCluster } from '../helpers/cluster.js';
import { monitorRedis } from '../helpers/monitor.js';
import { type ModeRedis, modesFromEnv, startModeRedis } from '../helpers/redis-modes.js';
import { cmd } from '../helpers/redis-topologies.js';

let room = 0;
const next = () => `chat:${++room}:${Date.now()}`;

/** Three nodes on one Redis, on a Sentinel primary, or on a 3-shard Redis Cluster (redis-modes.ts). */
describe.each(modesFromEnv())('cluster: delivery across three nodes (%s mode)', (mode) => {
  let redis: ModeRedis;
  let nodes: RunningBroker[];

  beforeAll(async () => {
    redis = await startModeRedis(mode);
    nodes = await startCluster(3, '', redis.config);
  }, 60_000);
  afterEach(() => closeClients());
  afterAll(async () => {
    await Promise.all((nodes ?? []).map((n) => n.close()));
    await redis?.stop();
  });

  /** One client per node, each joined to `name`. */
  async function joinedOnEveryNode(name: string, subs = ['alice', 'bob', 'carol']): Promise<TestClient[]> {
    const clients = await Promise.all(nodes.map((n, i) => connect(n.url, token(subs[i]))));
    for (const c of clients) expect(await request(c, 'join', { room: name })).toMatchObject({ ok: true });
    return clients;
  }

  it('delivers a message published on one node to members on the others', async () => {
    const name = next();
    const [alice, bob, carol] = await joinedOnEveryNode(name);
    const got = [nextEvent<Envelope>(bob!, 'message'), nextEvent<Envelope>(carol!, 'message')];
    const ack = await request(alice!, 'publish', { room: name, event: 'msg', data: { text: 'hi' } });
    expect(ack).toMatchObject({ ok: true, offset: 1 });
    for (const env of await Promise.all(got)) {
      expect(env).toMatchObject({
        room: name,
        data: { text: 'hi' },
        offset: 1,
        epoch: ack.epoch,
        from: { sub: 'alice' },
      });
    }
  });

  it('keeps one offset sequence under concurrent publishers on every node', async () => {
    const name = next();
    const clients = await joinedOnEveryNode(name);
    const seen = clients.map((c) => collect<Envelope>(c, 'message'));
    const acks = await Promise.all(
      clients.flatMap((c, i) =>
        Array.from({ length: 30 }, (_, j) =>
          request(c, 'publish', { room: name, event: 'e', data: [i, j], echo: true }),
        ),
      ),
    );
    const offsets = acks.map((a) => a.offset as number).sort((x, y) => x - y);
    expect(offsets).toEqual(Array.from({ length: 90 }, (_, i) => i + 1));
    expect(new Set(acks.map((a) => a.epoch)).size).toBe(1);
    for (const s of seen)
      await until(() => new Set(s.map((m) => m.offset)).size === 90, 5000, 'all 90 on a node');
  });

  it('recovers on another node what was published while a client was away, nothing lost', async () => {
    const name = next();
    const first = await connect(nodes[0]!.url, token('dave'));
    const joined = await request<{ offset: number; epoch: string }>(first, 'join', { room: name });
    const pub = await connect(nodes[1]!.url, token('pub'));
    // Listening before the publish: the message may reach `first` before the ack reaches `pub`.
    const seen = collect<Envelope>(first, 'message');
    await request(pub, 'publish', { room: name, event: 'e', data: 0 });
    await until(() => seen.length === 1, 5000, 'live message');
    first.disconnect();
    for (let i = 1; i <= 5; i++) await request(pub, 'publish', { room: name, event: 'e', data: i });
    const again = await connect(nodes[2]!.url, token('dave'));
    const reply = await request(again, 'join', {
      room: name,
      since: { offset: seen[0]!.offset, epoch: joined.epoch },
    });
    expect(reply).toMatchObject({ ok: true, recovered: true, offset: 6, epoch: joined.epoch });
    expect((reply.messages as Envelope[]).map((m) => m.data)).toEqual([1, 2, 3, 4, 5]);
  });

  it('answers presence cluster-wide and sends join and leave events across nodes', async () => {
    const name = next();
    const alice = await connect(nodes[0]!.url, token('alice', undefined, { info: { name: 'A' } }));
    await request(alice, 'join', { room: name });
    const joinSeen = nextEvent<PresenceEvent>(alice, 'presence');
    const bob = await connect(nodes[1]!.url, token('bob'));
    await request(bob, 'join', { room: name });
    expect(await joinSeen).toMatchObject({ room: name, action: 'join', member: { sub: 'bob' } });
    const carol = await connect(nodes[2]!.url, token('carol'));
    await request(carol, 'join', { room: name });
    const bob2 = await connect(nodes[2]!.url, token('bob'));
    await request(bob2, 'join', { room: name });
    const reply = await request(carol, 'presence', { room: name });
    const members = (reply.members as Member[]).sort((a, b) => a.sub.localeCompare(b.sub));
    expect(members).toEqual([
      { sub: 'alice', info: { name: 'A' }, connections: 1 },
      { sub: 'bob', info: { name: 'bob' }, connections: 2 },
      { sub: 'carol', info: { name: 'carol' }, connections: 1 },
    ]);
    const events = collect<PresenceEvent>(alice, 'presence');
    bob.disconnect(); // bob still has a connection on node 2: no leave yet
    await request(carol, 'leave', { room: name });
    await until(() => events.some((e) => e.action === 'leave'), 5000, 'leave event');
    bob2.disconnect();
    await until(() => events.filter((e) => e.action === 'leave').length === 2, 5000, 'second leave');
    expect(events.filter((e) => e.action === 'leave').map((e) => e.member.sub)).toEqual(['carol', 'bob']);
  });

  it('lists rooms and disconnects a user cluster-wide through the server API', async () => {
    const name = next();
    await joinedOnEveryNode(name, ['erin', 'erin', 'frank']);
    const rooms = await api(nodes[2]!.url, 'GET', `/v1/rooms?prefix=${encodeURIComponent(name)}`);
    expect(rooms.body).toMatchObject({ ok: true, rooms: [{ room: name, members: 2, connections: 3 }] });
    const presence = await api(nodes[1]!.url, 'GET', `/v1/rooms/${encodeURIComponent(name)}/presence`);
    expect((presence.body.members as Member[]).length).toBe(2);
    const res = await api(nodes[2]!.url, 'POST', '/v1/disconnect', { sub: 'erin' });
    expect(res.body).toMatchObject({ ok: true, disconnected: 2 });
    await until(
      async () => {
        const r = await api(nodes[0]!.url, 'GET', `/v1/rooms/${encodeURIComponent(name)}/presence`);
        return (r.body.members as Member[]).length === 1;
      },
      5000,
      'erin gone from presence',
    );
  });

  it('publishes from the server API of one node to members on the others', async () => {
    const name = next();
    const [, bob] = await joinedOnEveryNode(name);
    const got = nextEvent<Envelope>(bob!, 'message');
    const res = await api(nodes[2]!.url, 'POST', '/v1/publish', { room: name, event: 'news', data: 1 });
    expect(res.body).toMatchObject({ ok: true, results: [{ room: name, offset: 1 }] });
    expect(await got).toMatchObject({ event: 'news', from: null, offset: 1 });
  });

  it('sends one Redis command per published message: the script stores and publishes in one step', async () => {
    const name = next();
    const [alice] = await joinedOnEveryNode(name);
    // Once first: a shard that has not run the script yet answers NOSCRIPT, and the node sends EVAL.
    await request(alice!, 'publish', { room: name, event: 'e', data: -1 });
    // Every primary (a Redis Cluster has three): the room's shard must be among them.
    const monitors = await Promise.all(redis.primaries.map((p) => monitorRedis(p.port, p.host)));
    const ofRoom = () => monitors.flatMap((m) => m.seen).filter((c) => c.args.some((a) => a.includes(name)));
    const published = () =>
      ofRoom().filter((c) => c.source === 'lua' && c.args[0]!.toLowerCase() === 'spublish').length;
    const count = 50;
    for (let i = 0; i < count; i++) await request(alice!, 'publish', { room: name, event: 'e', data: i });
    await until(() => published() === count, 5000, 'every SPUBLISH seen, inside the script');
    for (const m of monitors) m.close();
    const outside = ofRoom()
      .filter((c) => c.source !== 'lua')
      .map((c) => `${c.args[0]!.toLowerCase()} ${c.args[2]} keys`);
    // The publish script is the EVALSHA with 3 keys. A history read (EVALSHA, 2 keys) may also come
    // when a node's subscriber reconnected meanwhile and it checks its rooms: not a publish's.
    const publishing = outside.filter((c) => c !== 'evalsha 2 keys');
    const perMessage = publishing.length / count;
    console.log(`redis commands per published message: ${perMessage} (${[...new Set(outside)].join(', ')})`);
    expect(perMessage).toBe(1);
    expect(new Set(publishing)).toEqual(new Set(['evalsha 3 keys']));
  });

  it('subscribes a node only to the rooms it serves', async () => {
    const name = next();
    // Summed over every primary: on a Redis Cluster only the room's shard has any.
    const subscribers = async () => {
      const replies = await Promise.all(
        redis.primaries.map(
          (p) => cmd(p, 'PUBSUB', 'SHARDNUMSUB', channel(name)) as Promise<[string, number]>,
        ),
      );
      return replies.reduce((sum, r) => sum + Number(r[1]), 0);
    };
    expect(await subscribers()).toBe(0);
    const alice = await connect(nodes[0]!.url, token('alice'));
    await request(alice, 'join', { room: name });
    expect(await subscribers()).toBe(1);
    const bob = await connect(nodes[1]!.url, token('bob'));
    await request(bob, 'join', { room: name });
    expect(await subscribers()).toBe(2);
    await request(alice, 'leave', { room: name });
    await until(async () => (await subscribers()) === 1, 3000, 'node 0 unsubscribed');
    bob.disconnect();
    await until(async () => (await subscribers()) === 0, 3000, 'node 1 unsubscribed');
  });

  it('delivers binary parts as bytes across nodes, live and replayed from history, as on one node', async () => {
    const name = next();
    const alice = await connect(nodes[0]!.url, token('alice'));
    const bob = await connect(nodes[1]!.url, token('bob'));
    const joined = await request<{ offset: number; epoch: string }>(bob, 'join', { room: name });
    const got = collect<Envelope>(bob, 'message');
    const bytes = Buffer.from([0, 1, 2, 0x7c, 250, 255]);
    expect(await request(alice, 'publish', { room: name, event: 'bin', data: { bytes } })).toMatchObject({
      ok: true,
    });
    await until(() => got.length === 1, 5000, 'binary message on another node');
    const asBytes = (m: Envelope) => Buffer.from((m.data as { bytes: ArrayBuffer }).bytes);
    expect(asBytes(got[0]!)).toEqual(bytes);
    const carol = await connect(nodes[2]!.url, token('carol'));
    const history = await request<{ messages: Envelope[] }>(carol, 'history', { room: name });
    expect(asBytes(history.messages![0]!)).toEqual(bytes);
    const replay = await request<{ messages: Envelope[] }>(carol, 'join', {
      room: name,
      since: { offset: joined.offset, epoch: joined.epoch },
    });
    expect(replay.messages).toHaveLength(1);
    expect(asBytes(replay.messages![0]!)).toEqual(bytes);
    const raw = (replay.messages![0]!.data as { bytes: unknown }).bytes;
    // Binary on the wire (a Buffer in Node's client), not a JSON object shaped like one.
    expect(ArrayBuffer.isView(raw) || raw instanceof ArrayBuffer).toBe(true);
  });

  it('delivers and replays numbers of any size unchanged, in data, in the sender info and in presence', async () => {
    const name = next();
    // Beyond what a 64-bit integer holds, and the edges of its range.
    const data = {
      big: 1e20,
      avogadro: 6.02214076e23,
      tiny: -1e300,
      top: 2 ** 64,
      low: -(2 ** 63) - 4096,
      safe: 2 ** 53,
    };
    const info = { score: 1e21 };
    const alice = await connect(nodes[0]!.url, token('alice', undefined, { info }));
    const bob = await connect(nodes[1]!.url, token('bob'));
    expect(await request(bob, 'join', { room: name })).toMatchObject({ ok: true });
    const joined = nextEvent<PresenceEvent>(bob, 'presence');
    const got = collect<Envelope>(bob, 'message');
    expect(await request(alice, 'join', { room: name })).toMatchObject({ ok: true });
    expect((await joined).member.info).toEqual(info);
    expect(await request(alice, 'publish', { room: name, event: 'n', data })).toMatchObject({ ok: true });
    expect(await api(nodes[2]!.url, 'POST', '/v1/publish', { room: name, event: 'n', data })).toMatchObject({
      status: 200,
    });
    await until(() => got.length === 2, 5000, 'both messages on another node');
    expect(got.map((m) => [m.data, m.from?.info ?? null])).toEqual([
      [data, info],
      [data, null],
    ]);
    const history = await api(nodes[2]!.url, 'GET', `/v1/rooms/${encodeURIComponent(name)}/history`);
    const stored = history.body.messages as Envelope[];
    expect(stored.map((m) => [m.data, m.from?.info ?? null])).toEqual([
      [data, info],
      [data, null],
    ]);
  });
});
