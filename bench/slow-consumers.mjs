#!/usr/bin/env node
/**
 * What stalled readers cost the others: a room with one live reader gets 21 MB (350 × 60 KB at
 * 100 msg/s), once with 50 more members whose sockets stopped reading and once without them.
 * Prints the live reader's publish→receive latency (p50, p99) for both runs and their ratio, and
 * how many stalled readers were closed (`limits.sendQueueBytes`, default 1 MiB). Run after
 * `npm run build`:  node bench/slow-consumers.mjs [--stalled 50]
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { mintToken } from '../dist/auth/mint.js';
import { createBroker, loadConfig } from '../dist/index.js';

const { values } = parseArgs({ options: { stalled: { type: 'string', default: '50' } } });
const KEY = 'bench-key-000001';

async function run(stalledCount) {
  const file = join(mkdtempSync(join(tmpdir(), 'roomcast-slow-')), 'config.json');
  writeFileSync(file, JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'silent' }));
  const config = loadConfig({
    ROOMCAST_JWT_SECRET: 's'.repeat(40),
    ROOMCAST_API_KEYS: KEY,
    ROOMCAST_CONFIG: file,
  });
  const broker = await createBroker(config);
  const { url, port } = await broker.listen();
  const tok = (sub) => mintToken(config.namespaces['/'], { sub, rooms: { subscribe: ['*'] }, ttlSec: 600 });
  const stalled = [];
  for (let i = 0; i < stalledCount; i++) {
    stalled.push(
      await new Promise((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`);
        ws.on('message', (d) => {
          const t = d.toString();
          if (t.startsWith('0')) ws.send(`40${JSON.stringify({ token: tok(`s${i}`) })}`);
          else if (t.startsWith('40')) ws.send('420["join",{"room":"busy"}]');
          else if (t.startsWith('430')) resolve(ws);
        });
      }),
    );
  }
  for (const ws of stalled) ws.pause();
  const reader = io(url, { auth: { token: tok('reader') }, transports: ['websocket'] });
  await new Promise((resolve) => reader.once('connect', resolve));
  await reader.emitWithAck('join', { room: 'busy' });
  const latencies = [];
  reader.on('message', (m) => latencies.push(Date.now() - m.ts));
  const chunk = 'x'.repeat(60_000);
  const count = 350;
  let next = Date.now();
  for (let i = 0; i < count; i++) {
    await fetch(`${url}/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ room: 'busy', event: 'e', data: { i, chunk } }),
    });
    next += 10;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
  }
  const deadline = Date.now() + 15_000;
  while (latencies.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const open = broker.io.of('/').sockets.size - 1;
  for (const ws of stalled) ws.terminate();
  reader.close();
  await broker.close();
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))];
  return { received: latencies.length, p50: pct(50), p99: pct(99), stillOpen: open };
}

const without = await run(0);
const withStalled = await run(Number(values.stalled));
console.log(`without stalled readers: ${JSON.stringify(without)}`);
console.log(`with ${values.stalled} stalled readers: ${JSON.stringify(withStalled)}`);
console.log(`p99 ratio (with / without): ${(withStalled.p99 / Math.max(1, without.p99)).toFixed(2)}`);
process.exit(0);
