import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope, Member, PresenceEvent } from '../../src/protocol.js';
import {
  closeClients,
  collect,
  connect,
  nextEvent,
  request,
  token,
  until,
  within,
} from '../helpers/broker.js';
import { api, type BrokerProcess, startProcess } from '../helpers/cluster.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

// Brokers as separate processes (`node dist/main.js`): run `npm run build` first.
let redis: TestRedis;
let procs: BrokerProcess[] = [];

beforeAll(async () => {
  if (!existsSync(resolve(import.meta.dirname, '../../dist/main.js'))) {
    throw new Error('dist/main.js is missing: run `npm run build` before the cluster tests');
  }
  redis = await startRedis();
});
afterEach(async () => {
  closeClients();
  await Promise.all(procs.map((p) => p.stop()));
  procs = [];
});
afterAll(() => redis.stop());

async function threeNodes(redisConfig: Record<string, unknown> = {}): Promise<BrokerProcess[]> {
  procs = await Promise.all([0, 1, 2].map(() => startProcess(redis.url, redisConfig)));
  return procs;
}

describe('cluster: brokers as separate processes', () => {
  it("removes a killed node's members from presence and sends their leave event", async () => {
    const [a, b, c] = await threeNodes();
    const room = 'chat:killed';
    const bob = await connect(a!.url, token('bob'));
    await request(bob, 'join', { room });
    const joined = nextEvent<PresenceEvent>(bob, 'presence');
    const alice = await connect(c!.url, token('alice'));
    await request(alice, 'join', { room });
    expect(await joined).toMatchObject({ action: 'join', member: { sub: 'alice' } });
    const events = collect<PresenceEvent>(bob, 'presence');
    c!.signal('SIGKILL');
    await c!.exited;
    await until(() => events.some((e) => e.action === 'leave'), 15_000, 'leave event for alice');
    expect(events).toEqual([{ room, action: 'leave', member: { sub: 'alice', info: { name: 'alice' } } }]);
    const carol = await connect(b!.url, token('carol'));
    const reply = await request(carol, 'presence', { room });
    expect((reply.members as Member[]).map((m) => m.sub)).toEqual(['bob']);
    const rooms = await api(b!.url, 'GET', '/v1/rooms?prefix=chat:killed');
    expect(rooms.body).toMatchObject({ rooms: [{ room, members: 1, connections: 1 }] });
  }, 40_000);

  it('does not let a SIGSTOPped node block the others, and takes it back when it resumes', async () => {
    // The nodes wait up to 2.5 s for each other's answers: on a loaded machine node b's answer to a
    // disconnect can take more than the tests' usual 1 s, and the test counts it.
    const [a, b, c] = await threeNodes({ requestTimeoutMs: 2500 });
    const room = 'chat:frozen-node';
    const frozenMember = await connect(c!.url, token('zed'));
    await request(frozenMember, 'join', { room });
    const onA = await connect(a!.url, token('alice'));
    const onB = await connect(b!.url, token('bob'));
    await request(onA, 'join', { room });
    await request(onB, 'join', { room });
    const yanOnB = await connect(b!.url, token('yan'));
    await connect(c!.url, token('yan'));
    const seenOnA = collect<PresenceEvent>(onA, 'presence');
    const seenByZed = collect<PresenceEvent>(frozenMember, 'presence');
    c!.signal('SIGSTOP');

    // Nothing waits on the frozen node (it stays frozen until zed is reaped, below): each answer
    // comes within a bound. The contract's is 3 s; these leave room for a loaded machine, the
    // disconnect more, since it waits up to 2.5 s for the frozen node's answer by design.
    const WAIT = 4000;
    const DISCONNECT_WAIT = 8000;
    const got = nextEvent<Envelope>(onB, 'message');
    const pub = await within(
      request(onA, 'publish', { room, event: 'e', data: 'while frozen' }),
      WAIT,
      'publish',
    );
    expect(pub).toMatchObject({ ok: true });
    expect(await got).toMatchObject({ data: 'while frozen' });
    const presence = await within(request(onA, 'presence', { room }), WAIT, 'presence');
    expect(presence.ok).toBe(true);
    for (const path of ['/v1/rooms', `/v1/rooms/${encodeURIComponent(room)}/presence`]) {
      const res = await within(api(a!.url, 'GET', path), WAIT, `GET ${path}`);
      expect(res.status).toBe(200);
    }
    // yan is on b and on the frozen c: the answer covers the nodes that answered.
    const dis = await within(
      api(a!.url, 'POST', '/v1/disconnect', { sub: 'yan' }),
      DISCONNECT_WAIT,
      'disconnect',
    );
    expect(dis.body).toMatchObject({ ok: true, disconnected: 1 });
    await until(() => !yanOnB.connected, 3000, 'yan on node b closed');

    // Frozen past the presence TTL, zed is reaped; once resumed, node c registers zed again.
    await until(
      async () => {
        const r = await request(onA, 'presence', { room });
        return !(r.members as Member[]).some((m) => m.sub === 'zed');
      },
      15_000,
      'zed reaped',
    );
    c!.signal('SIGCONT');
    await until(
      async () => {
        const r = await request(onA, 'presence', { room });
        return (r.members as Member[]).some((m) => m.sub === 'zed');
      },
      10_000,
      'zed registered again',
    );
    // The others saw zed leave when c was reaped; they see zed join again when it is back.
    await until(
      () => seenOnA.some((e) => e.action === 'join' && e.member.sub === 'zed'),
      5000,
      'zed join announced',
    );
    expect(seenOnA.filter((e) => e.member.sub === 'zed').map((e) => e.action)).toEqual(['leave', 'join']);
    // zed's own connection heard the reaper's leave (buffered while frozen) and hears the join too.
    await until(
      () => seenByZed.filter((e) => e.member.sub === 'zed').length === 2,
      5000,
      'zed sees itself back',
    );
    expect(seenByZed.filter((e) => e.member.sub === 'zed').map((e) => e.action)).toEqual(['leave', 'join']);
    expect(frozenMember.connected).toBe(true);
    expect(c!.proc.exitCode).toBeNull();
  }, 60_000);

  it('hands a member every message in offset order when publishers on both nodes go on as Redis comes back without its data', async () => {
    procs = await Promise.all([0, 1].map(() => startProcess(redis.url)));
    const nodes = procs;
    const room = 'chat:order';
    const member = await connect(nodes[0]!.url, token('member'));
    await request(member, 'join', { room });
    const got = collect<Envelope>(member, 'message');
    const pubs = await Promise.all([0, 1, 0, 1].map((n, i) => connect(nodes[n]!.url, token(`pub${i}`))));
    for (let i = 0; i < 3; i++) await request(pubs[0]!, 'publish', { room, event: 'e', data: `before ${i}` });
    await until(() => got.length === 3, 5000, 'the first messages');
    await redis.kill();
    await redis.restart();
    // Each publisher tries again at once until 25 of its publishes are acknowledged: the first
    // land while node 0's room subscription is still coming back, and its fill from history
    // races the live messages that follow.
    const PER = 25;
    const acked = await Promise.all(
      pubs.map(async (pub, k) => {
        let ok = 0;
        const deadline = Date.now() + 20_000;
        while (ok < PER && Date.now() < deadline) {
          const ack = await request(pub, 'publish', { room, event: 'e', data: `p${k}-${ok}` });
          if (ack.ok) ok++;
          else await new Promise((resolve) => setImmediate(resolve));
        }
        return ok;
      }),
    );
    expect(acked).toEqual([PER, PER, PER, PER]);
    await until(() => got.length >= 3 + 4 * PER, 15_000, 'every message on node 0');
    const after = got.slice(3);
    // One new epoch, every offset once, in order.
    expect(new Set(after.map((m) => m.epoch)).size).toBe(1);
    expect(after.map((m) => m.offset)).toEqual(Array.from({ length: 4 * PER }, (_, i) => i + 1));
  }, 60_000);
});
