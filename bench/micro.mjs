#!/usr/bin/env node
/**
 * What roomcast does per publish, step by step, in one process with no network: the CPU cost of
 * each piece of the socket `publish` path, next to bare Socket.IO's `io.to(room).emit`. The
 * room has no members, so delivery itself (the same for both) is left out; what remains is the
 * per-publish work roomcast adds. Next to each CPU figure, the bytes each call allocates (V8's
 * sampling heap profiler with collected objects kept in, over a separate run of n/4 calls).
 * Run after `npm run build`:
 *
 *   node --expose-gc bench/micro.mjs [--n 200000]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { encode as notepackEncode } from 'notepack.io';
import { Server } from 'socket.io';
import { Encoder } from 'socket.io-parser';
import { packDraft } from '../dist/backends/redis-codec.js';
import { createBroker, loadConfig } from '../dist/index.js';
import { bindHandlers } from '../dist/socket/connection.js';
import { EventLimit } from '../dist/socket/event-limit.js';
import * as schemas from '../dist/socket/schemas.js';

// The publish schema: `requestSchemas.publish` since the namespace core (an export of its own before).
const publishSchema = schemas.requestSchemas?.publish ?? schemas.publishSchema;
const { parsePayload } = schemas;

const { values } = parseArgs({ options: { n: { type: 'string', default: '200000' } } });
const N = Number(values.n);

const file = join(mkdtempSync(join(tmpdir(), 'roomcast-micro-')), 'config.json');
writeFileSync(file, JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'silent' }));
const broker = await createBroker(
  loadConfig({
    ROOMCAST_JWT_SECRET: 'micro-secret-0123456789abcdef0123',
    ROOMCAST_API_KEYS: 'micro-key-0001',
    ROOMCAST_CONFIG: file,
  }),
);
const rt = broker.namespaces.get('/');
const bound = bindHandlers(rt.context);
const handle = bound.get('publish');
const handleJoin = bound.get('join');
const handleLeave = bound.get('leave');
const client = {
  id: 'publisher-socket-id',
  sub: 'publisher0',
  info: null,
  rights: { subscribe: ['bench:*'], publish: ['bench:*'], presence: [] },
  rooms: new Set(),
};
const socket = { id: client.id, data: { client } };
const bare = new Server();
const pad = 'x'.repeat(100);
const payload = (i) => ({ t: 1_700_000_000_000 + i, seq: i, m: 1, pad });
const room = (i) => `bench:room${i % 1000}`;

/** CPU µs per call of `f` (async allowed), after a warm-up. */
async function cost(f) {
  for (let i = 0; i < 20_000; i++) await f(i);
  globalThis.gc?.();
  const c0 = process.cpuUsage();
  for (let i = 0; i < N; i++) await f(i);
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / N;
}

const session = new Session();
session.connect();
await session.post('HeapProfiler.enable');

/** Bytes allocated per call of `f`: the heap profile's estimate of all bytes allocated ÷ calls. */
async function allocated(f) {
  const n = Math.max(1000, Math.round(N / 4));
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 512,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  for (let i = 0; i < n; i++) await f(i);
  const { profile } = await session.post('HeapProfiler.stopSampling');
  let total = 0;
  const walk = (node) => {
    total += node.selfSize;
    for (const c of node.children) walk(c);
  };
  walk(profile.head);
  return total / n;
}

const encoder = new Encoder();
const envelope = {
  id: '6f1c1f55-2f34-4b0e-a1a8-3c3a1f0b9a10',
  room: 'bench:room1',
  event: 'msg',
  data: payload(1),
  offset: 1234,
  epoch: 'AbCdEfGh',
  ts: 1_700_000_000_000,
  from: { sub: 'publisher0', info: null },
};
/** The draft of publish `i`: what the Redis publish script stores and sends. */
const draftOf = (i) => ({
  id: envelope.id,
  room: room(i),
  event: 'msg',
  data: payload(i),
  ts: envelope.ts,
  from: envelope.from,
});
const limitHolder = {};
const eventLimit = new EventLimit(1e12);
const steps = [
  ['bare: io.to(room).emit (encode, no members)', (i) => bare.to(room(i)).emit('message', payload(i))],
  [
    'encode bare payload (socket.io-parser)',
    (i) => encoder.encode({ type: 2, nsp: '/', data: ['message', payload(i)] }),
  ],
  [
    'encode roomcast envelope (socket.io-parser)',
    () => encoder.encode({ type: 2, nsp: '/', data: ['message', envelope] }),
  ],
  // Cluster mode only: the draft the publish script stores and sends, as MessagePack.
  ['Redis codec: packDraft (@msgpack/msgpack)', (i) => packDraft(draftOf(i))],
  ['the same draft, notepack.io encode (what packDraft used before)', (i) => notepackEncode(draftOf(i))],
  [
    'zod: publish payload schema',
    (i) => parsePayload(publishSchema, { room: room(i), event: 'msg', data: payload(i) }),
  ],
  // The namespace's limit would refuse most of 200,000 calls: the same check with room for them.
  ['rate limit (one event)', () => eventLimit.take(limitHolder)],
  [
    'RoomManager.publish (offset, history, emit, metrics)',
    (i) => rt.rooms.publish(client, { room: room(i), event: 'msg', data: payload(i) }),
  ],
  [
    'publish handler (zod + RoomManager.publish)',
    (i) => handle({ room: room(i), event: 'msg', data: payload(i) }, socket),
  ],
  // A join of a room with no other member, then its leave (the storm's per-room work, no socket).
  [
    'join + leave handlers (rights, membership, presence, history position)',
    async (i) => {
      await handleJoin({ room: room(i) }, socket);
      await handleLeave({ room: room(i) }, socket);
    },
  ],
];
console.log(`per-publish CPU and bytes allocated, ${N} calls each, node ${process.version}`);
for (const [name, f] of steps) {
  const us = await cost(f);
  const bytes = await allocated(f);
  console.log(`  ${us.toFixed(2).padStart(7)} µs ${Math.round(bytes).toString().padStart(7)} B  ${name}`);
}
await broker.close();
bare.close();
process.exit(0);
