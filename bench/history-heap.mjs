#!/usr/bin/env node
/**
 * What one-node history costs the heap when full: the memory engine fills `--rooms` rooms with
 * `--size` messages each (a 130-byte JSON payload, ids from the message-id counter, the
 * publisher's shared `from`, as the room manager passes them), publishes as many again so every
 * message has been replaced once, and prints the heap per stored message (and the bytes outside
 * the heap), the time of a full GC (median of 10) after forced GCs, and the process CPU per
 * publish (every thread: the collector's work included) while filling and while replacing. Run
 * after `npm run build`:
 *
 *   node --expose-gc bench/history-heap.mjs [--rooms 1000] [--size 100]
 *
 * `DIST=/path/to/dist` measures another build (a worktree's), to compare two in turn. Bare
 * Socket.IO keeps no history, so there is nothing of its to set beside this.
 */
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: { rooms: { type: 'string', default: '1000' }, size: { type: 'string', default: '100' } },
});
if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
const dist = process.env.DIST ?? new URL('../dist', import.meta.url).pathname;
const { createMemoryEngine } = await import(`${dist}/backends/memory-engine.js`);
const { MessageIds } = await import(`${dist}/rooms/message-id.js`);

const rooms = Number(values.rooms);
const size = Number(values.size);
const sink = { message() {}, presence() {}, resync() {} };
const engine = createMemoryEngine(sink);
const ids = new MessageIds();
const policy = { size, ttlMs: 0 };
const from = { sub: 'bench-user', info: { name: 'Bench' } };
const names = Array.from({ length: rooms }, (_, i) => `room:${i}`);

const cpuUs = (u) => u.user + u.system;

function publish(i) {
  // The payload as a client's frame gives it: parsed from JSON, then the size check's JSON.
  const data = JSON.parse(`{"seq":${i},"text":"${'x'.repeat(110)}"}`);
  const draft = { id: ids.next(), room: names[i % rooms], event: 'msg', data, ts: Date.now(), from };
  engine.publish('/', draft, policy, { binary: false, dataJson: JSON.stringify(data) });
}

globalThis.gc();
globalThis.gc();
const before = process.memoryUsage();
const empty = before.heapUsed;
let i = 0;
// Process CPU (every thread: the collector's helpers too) per publish, filling and then replacing.
let cpu = process.cpuUsage();
for (; i < rooms * size; i++) publish(i);
const fillUs = cpuUs(process.cpuUsage(cpu)) / (rooms * size);
cpu = process.cpuUsage();
for (let n = 0; n < rooms * size; n++, i++) publish(i);
const replaceUs = cpuUs(process.cpuUsage(cpu)) / (rooms * size);
globalThis.gc();
globalThis.gc();
const after = process.memoryUsage();
const full = after.heapUsed;
// Bytes outside V8's heap (Buffers, typed arrays), counted apart: none while history is strings.
const outside = after.arrayBuffers - before.arrayBuffers;
const times = [];
for (let n = 0; n < 10; n++) {
  const start = performance.now();
  globalThis.gc();
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
const stored = rooms * size;
console.log(`${dist}: ${rooms} rooms × ${size} messages (${stored} stored)`);
console.log(`heap per stored message  ${Math.round((full - empty) / stored)} B`);
console.log(`heap of history          ${((full - empty) / 1e6).toFixed(1)} MB`);
console.log(`buffers per stored msg   ${Math.round(outside / stored)} B (outside the heap)`);
console.log(`in all, per stored msg   ${Math.round((full - empty + outside) / stored)} B`);
console.log(`full GC, median of 10    ${times[5].toFixed(1)} ms`);
console.log(
  `CPU per publish, filling ${fillUs.toFixed(2)} µs; replacing ${replaceUs.toFixed(2)} µs (all threads)`,
);
await engine.close();
