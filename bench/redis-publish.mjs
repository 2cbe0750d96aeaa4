#!/usr/bin/env node
/**
 * Redis CPU per published message, in Redis alone: roomcast's publish (the real engine from
 * `dist/`, one script that checks, counts, stores and publishes) against the floor of any
 * one-script publish (EVALSHA of a script that does nothing but the same SPUBLISH) and against a
 * bare SPUBLISH of the same bytes (what the stock sharded adapter sends). Every variant publishes
 * at the same steady rate, round-robin over the same rooms, to channels that two subscriber
 * connections (two nodes) have SSUBSCRIBEd; variants alternate over rounds on one redis-server,
 * and Redis's own CPU (INFO used_cpu_*) is read around each window.
 *
 *   node bench/redis-publish.mjs [--rooms 300] [--rate 1000] [--seconds 4] [--rounds 7] [--payload 100]
 *
 * Run `npm run build` first. See docs/benchmarks.md ("Redis CPU per publish").
 */
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { createBackend } from '../dist/backends/index.js';
import { packDraft } from '../dist/backends/redis-codec.js';
import { roomKeys } from '../dist/backends/redis-keys.js';
import { loadConfig } from '../dist/index.js';
import { createLogger } from '../dist/logger.js';
import { sleep } from './lib/proc.mjs';
import { startRedis } from './lib/redis.mjs';

const { values: opts } = parseArgs({
  options: {
    rooms: { type: 'string', default: '300' },
    rate: { type: 'string', default: '1000' },
    seconds: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '7' },
    payload: { type: 'string', default: '100' },
  },
});
const ROOMS = Number(opts.rooms);
const RATE = Number(opts.rate);
const PER_ROUND = Math.round(RATE * Number(opts.seconds));
const ROUNDS = Number(opts.rounds);

const redis = await startRedis();
const log = createLogger('silent');
const sink = { message() {}, presence() {}, resync() {} };
const config = loadConfig({ ROOMCAST_JWT_SECRET: 'x'.repeat(32), ROOMCAST_REDIS_URL: redis.url });
const backend = await createBackend(config, log, sink);
const engine = backend.engine;
const room = (i) => `bench:${i % ROOMS}`;
// This node (the engine) watches every room, and a second subscriber stands for a second node.
for (let i = 0; i < ROOMS; i++) await engine.watch('/', room(i));
const other = new Redis(redis.url);
for (let i = 0; i < ROOMS; i++) await other.ssubscribe(roomKeys('roomcast', '/', room(i)).channel);
other.on('smessage', () => undefined);

const pub = new Redis(redis.url);
const draft = (i) => ({
  id: '5f0c8a9e-3c1d-4b7e-9a51-2d6f0e4b8c17',
  room: room(i),
  event: 'm',
  data: { t: Date.now(), seq: i, m: 'hello', pad: 'x'.repeat(Number(opts.payload)) },
  ts: Date.now(),
  from: { sub: 'publisher', info: null },
});
const policy = { size: 100, ttlMs: 300_000 };
const onlyPublish = await pub.script(
  'LOAD',
  "redis.call('SPUBLISH', KEYS[1], ARGV[1]) return {ARGV[2], 1, 0}",
);
// What roomcast's channel message holds: a short header and the packed draft.
const message = (i) => Buffer.concat([Buffer.from('m|abcdefgh|1||'), packDraft(draft(i))]);

const variants = {
  'SPUBLISH (stock sharded adapter)': (i) =>
    pub.spublish(roomKeys('roomcast', '/', room(i)).channel, message(i)),
  'EVALSHA that only SPUBLISHes (floor of a script)': (i) =>
    pub.evalsha(onlyPublish, 1, roomKeys('roomcast', '/', room(i)).channel, message(i), 'abcdefgh'),
  'roomcast publish (engine.publish)': (i) => engine.publish('/', draft(i), policy),
};

async function window(send) {
  const before = (await redis.stats()).cpuUs;
  const started = Date.now();
  const pending = [];
  for (let k = 0; k < PER_ROUND; k++) {
    const wait = started + (k * 1000) / RATE - Date.now();
    if (wait > 0) await sleep(wait);
    pending.push(send(k));
  }
  await Promise.all(pending);
  return ((await redis.stats()).cpuUs - before) / PER_ROUND;
}

const results = Object.fromEntries(Object.keys(variants).map((n) => [n, []]));
for (const send of Object.values(variants)) await window(send); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, send] of Object.entries(variants)) results[name].push(await window(send));
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = results['SPUBLISH (stock sharded adapter)'];
console.log(
  `Redis CPU µs per publish: ${ROOMS} rooms, ${RATE} publishes/s, 2 subscribers per room, ${ROUNDS} rounds of ${PER_ROUND}`,
);
for (const [name, xs] of Object.entries(results)) {
  const ratios = xs.map((x, k) => x / base[k]);
  console.log(
    `  ${name.padEnd(50)} ${median(xs).toFixed(1).padStart(6)} µs   ×${median(ratios).toFixed(2)} of SPUBLISH (rounds: ${ratios.map((x) => x.toFixed(2)).join(' ')})`,
  );
}
await backend.close();
for (const c of [pub, other]) c.disconnect();
await redis.stop();
process.exit(0);
