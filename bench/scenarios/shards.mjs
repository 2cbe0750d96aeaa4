/**
 * Redis Cluster scenario: the many-rooms publish load of one roomcast node's engine (the code a
 * publish runs: one script per message that checks idempotency, assigns the offset, appends history
 * and SPUBLISHes) against one Redis, against one Redis with the failover check that Sentinel mode
 * adds, and against a 3-shard Redis Cluster. Reports publishes/s and, per shard, Redis CPU per
 * publish and the share of publishes it served: on this machine the absolute rate is bounded by the
 * cores (the publisher, a Node process, shares them with Redis), so what carries over is the Redis
 * CPU per publish and whether the load spreads evenly. Each Redis's background CPU (measured for
 * 3 s with the engine connected and idle) is subtracted from the CPU per publish.
 */
import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { startRedis } from '../lib/redis.mjs';
import { startRedisCluster } from '../lib/redis-cluster.mjs';

const POLICY = { size: 100, ttlMs: 300_000 };
const IDLE_MS = 3000;
const sink = { message() {}, presence() {}, resync() {} };

async function engineOn(target, failover) {
  const { createRedisClients } = await import('../../dist/backends/redis-clients.js');
  const { createRedisEngine } = await import('../../dist/backends/redis-engine.js');
  const log = pino({ level: 'silent' });
  const clients = createRedisClients(target, { requestTimeoutMs: 5000, log });
  const engine = createRedisEngine(clients, sink, {
    prefix: 'bench',
    mode: 'sharded',
    presenceTtlMs: 15_000,
    heartbeatMs: 5_000,
    requestTimeoutMs: 5000,
    failover,
    log,
  });
  const deadline = Date.now() + 15_000;
  while (!engine.isReady()) {
    if (Date.now() > deadline) throw new Error('engine not ready');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    engine,
    async close() {
      await engine.close();
      await clients.close();
    },
  };
}

/** `inflight` loops publish to random rooms for `seconds`; returns the count and ack latencies. */
async function load(engine, rooms, inflight, seconds) {
  const names = Array.from({ length: rooms }, (_, i) => `bench:shard-room${i}`);
  const acks = [];
  let published = 0;
  let failed = 0;
  const end = performance.now() + seconds * 1000;
  const loop = async () => {
    while (performance.now() < end) {
      const room = names[Math.floor(Math.random() * names.length)];
      const t0 = performance.now();
      try {
        await engine.publish(
          '/',
          { id: randomUUID(), room, event: 'e', data: { pad: 'x'.repeat(100) }, ts: Date.now(), from: null },
          POLICY,
        );
        published++;
        if (acks.length < 200_000) acks.push(performance.now() - t0);
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: inflight }, loop));
  acks.sort((a, b) => a - b);
  return {
    published,
    failed,
    ackP50Ms: acks[Math.floor(acks.length * 0.5)],
    ackP99Ms: acks[Math.floor(acks.length * 0.99)],
  };
}

function delta(before, after) {
  const out = {};
  for (const [shard, a] of Object.entries(after)) {
    const b = before[shard];
    const scripts =
      (a.calls.evalsha ?? 0) + (a.calls.eval ?? 0) - (b.calls.evalsha ?? 0) - (b.calls.eval ?? 0);
    out[shard] = { scripts, cpuUs: a.cpuUs - b.cpuUs };
  }
  return out;
}

async function measureOne(label, topology, failover, params) {
  const { engine, close } = await engineOn(topology.target, failover);
  try {
    // Redis's own background CPU (cron, cluster bus, slot refreshes) per second, with the engine
    // connected but idle: subtracted, so that what remains is the CPU the publishes cost.
    const idleBefore = await topology.stats();
    const idleStart = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_MS));
    const idle = delta(idleBefore, await topology.stats());
    const idleSeconds = (performance.now() - idleStart) / 1000;
    await load(engine, params.rooms, params.inflight, params.warmup);
    const before = await topology.stats();
    const t0 = performance.now();
    const run = await load(engine, params.rooms, params.inflight, params.duration);
    const seconds = (performance.now() - t0) / 1000;
    const shards = delta(before, await topology.stats());
    for (const [k, v] of Object.entries(shards)) {
      v.idleCpuUs = (idle[k].cpuUs / idleSeconds) * seconds;
      v.cpuUs = Math.max(0, v.cpuUs - v.idleCpuUs);
    }
    const total = Object.values(shards).reduce((s, x) => s + x.scripts, 0);
    const cpu = Object.values(shards).reduce((s, x) => s + x.cpuUs, 0);
    const per = (f) => Object.fromEntries(Object.entries(shards).map(([k, v]) => [`:${k}`, f(v)]));
    return {
      label,
      figures: {
        publishesPerSec: run.published / seconds,
        redisCpuUsPerPublish: cpu / Math.max(1, run.published),
        shardCpuUsPerPublish: per((v) => v.cpuUs / Math.max(1, v.scripts)),
        shardShare: per((v) => v.scripts / Math.max(1, total)),
        shardCpuPercent: per((v) => v.cpuUs / 1e4 / seconds),
        shardIdleCpuPercent: per((v) => v.idleCpuUs / 1e4 / seconds),
        ackP50Ms: run.ackP50Ms,
        ackP99Ms: run.ackP99Ms,
        published: run.published,
        failed: run.failed,
      },
    };
  } finally {
    await close();
  }
}

/** Runs the three targets one after the other; resolves with `{ results }` keyed by target. */
export async function runShards(params) {
  const results = {};
  const single = await startRedis();
  try {
    const url = {
      target: { kind: 'url', url: single.url, tls: false },
      stats: async () => ({ 1: await single.stats() }),
    };
    for (const [label, failover] of [
      ['1 redis', false],
      ['1 redis + check', true],
    ]) {
      const r = await measureOne(label, url, failover, params);
      results[r.label] = r.figures;
    }
  } finally {
    await single.stop();
  }
  const cluster = await startRedisCluster(params.shards);
  try {
    const target = { kind: 'cluster', nodes: cluster.seeds, password: null, tls: false };
    const r = await measureOne(
      `${params.shards} shards`,
      { target, stats: () => cluster.stats() },
      true,
      params,
    );
    results[r.label] = r.figures;
  } finally {
    await cluster.stop();
  }
  return { results };
}
