import { setTimeout as pace } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import {
  closeClients,
  connect,
  type RunningBroker,
  request,
  type TestClient,
  token,
  until,
} from '../helpers/broker.js';
import { startCluster } from '../helpers/cluster.js';
import { type ModeRedis, type RedisMode, startModeRedis } from '../helpers/redis-modes.js';
import { readyz } from './stream-scenario.js';

/**
 * Redis killed (SIGKILL) and restarted without its data three times, 2 s apart, while three nodes
 * serve about 50 publishes/s to 5 rooms with a member on every node. Every acknowledged message
 * reaches every member (live, or filled from history by the member's node), and no member gets
 * one offset twice within an epoch. `ROOMCAST_RESTART_RUNS=10 npx vitest run
 * test/cluster/restarts.test.ts` repeats it (scripts/soak.sh runs it that way).
 *
 * It can run in the three modes of test/helpers/redis-modes.ts: one Redis, Sentinel (the primary
 * restarted without its data within the sentinels' down-after time: an outage, not a failover;
 * the replica resynchronises from the empty primary) and a Redis Cluster (every shard at once).
 * `npm test` runs it with one Redis (faults.test.ts restarts Redis without its data under a
 * stream in every mode); `ROOMCAST_RESTART_MODES=url,sentinel,cluster` (scripts/soak.sh) runs all.
 */
const MODES = (process.env.ROOMCAST_RESTART_MODES ?? 'url').split(',') as RedisMode[];
const ROOMS = ['r:1', 'r:2', 'r:3', 'r:4', 'r:5'].map((r) => `restart:${r}`);
const RUNS = Number(process.env.ROOMCAST_RESTART_RUNS ?? 1);

let redis: ModeRedis | undefined;
let nodes: RunningBroker[] = [];

afterEach(async () => {
  closeClients();
  await Promise.all(nodes.map((n) => n.close()));
  nodes = [];
  await redis?.stop();
});

describe.each(MODES)('cluster: Redis restarted without its data, three times (%s mode)', (mode) => {
  for (let run = 1; run <= RUNS; run++) {
    it(`delivers every acknowledged message once per offset (run ${run} of ${RUNS})`, async () => {
      redis = await startModeRedis(mode);
      nodes = await startCluster(3, '', redis.config);
      const urls = nodes.map((n) => n.url);
      const members = await Promise.all(urls.map((url, i) => connect(url, token(`member${i}`))));
      for (const m of members)
        for (const room of ROOMS) expect(await request(m, 'join', { room })).toMatchObject({ ok: true });
      const got = members.map((m) => record(m));
      const publishers = await Promise.all(urls.map((url, i) => connect(url, token(`pub${i}`))));
      const stream = publish(publishers);

      await until(() => stream.acked.size >= 50, 10_000, 'a steady stream');
      for (let kill = 0; kill < 3; kill++) {
        await redis.kill();
        for (const url of urls) await until(async () => (await readyz(url)) === 503, 5000, '/readyz 503');
        await redis.restart();
        for (const url of urls) await until(async () => (await readyz(url)) === 200, 15_000, '/readyz 200');
        const before = stream.acked.size;
        // 2 s of traffic between two restarts (about 100 publishes).
        await until(() => stream.acked.size >= before + 90, 15_000, 'publishes after the restart');
      }
      await stream.stop();

      const acked = [...stream.acked.values()];
      const everyone = () => got.every((g) => acked.every(({ room, data }) => g.data.get(room)?.has(data)));
      await until(everyone, 15_000, 'every member to get every acked message').catch((err: Error) => {
        const missing = got.map(
          (g, i) =>
            `member ${i}: ${acked.filter(({ room, data }) => !g.data.get(room)?.has(data)).map((a) => a.data)}`,
        );
        throw new Error(`${err.message}: ${missing.join('; ')}`);
      });
      for (const g of got) expect(g.twice).toEqual([]);
      for (const m of [...members, ...publishers]) expect(m.connected).toBe(true);
    }, 120_000);
  }
});

interface Received {
  data: Map<string, Set<number>>;
  /** `room epoch offset` of every offset seen twice. */
  twice: string[];
}

function record(socket: TestClient): Received {
  const out: Received = { data: new Map(), twice: [] };
  const offsets = new Set<string>();
  socket.on('message', (m: Envelope) => {
    const key = `${m.room} ${m.epoch} ${m.offset}`;
    if (offsets.has(key)) out.twice.push(key);
    offsets.add(key);
    if (!out.data.has(m.room)) out.data.set(m.room, new Set());
    out.data.get(m.room)!.add(m.data as number);
  });
  return out;
}

/** Each publisher publishes to the rooms in turn, about 17 per second each (50/s in all). */
function publish(publishers: TestClient[]) {
  const acked = new Map<number, { room: string; data: number }>();
  let running = true;
  let n = 0;
  const loops = publishers.map(async (p) => {
    let deadline = Date.now();
    while (running) {
      const data = ++n;
      const room = ROOMS[data % ROOMS.length]!;
      const ack = await request(p, 'publish', { room, event: 'tick', data });
      if (ack.ok) acked.set(data, { room, data });
      deadline += 60;
      await pace(Math.max(0, deadline - Date.now()));
    }
  });
  return {
    acked,
    async stop() {
      running = false;
      await Promise.all(loops);
    },
  };
}
