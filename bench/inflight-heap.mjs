#!/usr/bin/env node
/**
 * Heap held per publish while it waits for Redis: what a young-generation GC has to copy on a
 * node that publishes thousands of messages a second (the cluster p99 tail, docs/benchmarks.md).
 * Fires `--n` publishes through the real engine (`engine.publish`, from `dist/` or `--dist`)
 * without awaiting them, and as many PUBLISHes of the same bytes from a plain ioredis client (what
 * the stock Socket.IO Redis adapter leaves in flight per broadcast), runs a full GC before any reply can arrive (no turn of the event loop in
 * between), and reads `heapUsed` against the same GC before them; then awaits them all. The
 * Redis command queue, the promises and whatever each publish keeps alive are counted; the bytes
 * written to the socket are not (they leave the V8 heap).
 *
 *   node --expose-gc bench/inflight-heap.mjs [--n 5000] [--rounds 7] [--payload 100] [--dist /path/to/dist]
 *
 * Run `npm run build` first.
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { startRedis } from './lib/redis.mjs';

const { values: opts } = parseArgs({
  options: {
    n: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '7' },
    payload: { type: 'string', default: '100' },
    dist: { type: 'string', default: new URL('../dist', import.meta.url).pathname },
  },
});
if (typeof globalThis.gc !== 'function') {
  console.error('run with node --expose-gc');
  process.exit(2);
}
const N = Number(opts.n);
const dist = (file) => pathToFileURL(resolve(opts.dist, file)).href;
const { createBackend } = await import(dist('backends/index.js'));
const { loadConfig } = await import(dist('index.js'));
const { createLogger } = await import(dist('logger.js'));
const { packDraft } = await import(dist('backends/redis-codec.js'));

const redis = await startRedis();
const sink = { message() {}, presence() {}, resync() {} };
const config = loadConfig({ ROOMCAST_JWT_SECRET: 'x'.repeat(32), ROOMCAST_REDIS_URL: redis.url });
const backend = await createBackend(config, createLogger('silent'), sink);
const engine = backend.engine;
const policy = { size: 100, ttlMs: 300_000 };
const pad = 'x'.repeat(Number(opts.payload));
const draft = (i) => ({
  id: `m${i}`,
  room: `bench:${i % 300}`,
  event: 'm',
  data: { t: Date.now(), seq: i, m: 'hello', pad },
  ts: Date.now(),
  from: { sub: 'publisher', info: null },
});

const plain = new Redis(redis.url);
const variants = {
  'roomcast engine.publish': (i) => engine.publish('/', draft(i), policy),
  // The channel message roomcast's script sends: a short header and the packed draft.
  'PUBLISH of the same bytes': (i) =>
    plain.publish(`bench:${i % 300}`, Buffer.concat([Buffer.from('m|abcdefgh|1||'), packDraft(draft(i))])),
};

const pending = new Array(N).fill(null);
const heap = () => {
  globalThis.gc();
  return process.memoryUsage().heapUsed;
};
async function round(send) {
  const before = heap();
  for (let i = 0; i < N; i++) pending[i] = send(i);
  const during = heap();
  await Promise.all(pending);
  pending.fill(null);
  return (during - before) / N;
}

const results = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
for (const send of Object.values(variants)) await round(send); // warm-up: scripts loaded, code optimised
for (let r = 0; r < Number(opts.rounds); r++)
  for (const [name, send] of Object.entries(variants)) results[name].push(await round(send));
console.log(`heap held per publish in flight, ${N} publishes a round (${opts.dist}):`);
for (const [name, xs] of Object.entries(results)) {
  const sorted = [...xs].sort((a, b) => a - b);
  console.log(
    `  ${name.padEnd(28)} median ${sorted[Math.floor(sorted.length / 2)].toFixed(0).padStart(5)} B ` +
      `(rounds: ${xs.map((b) => b.toFixed(0)).join(' ')})`,
  );
}
plain.disconnect();
await backend.close();
await redis.stop();
process.exit(0);
