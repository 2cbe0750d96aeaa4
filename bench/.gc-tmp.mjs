// How much does keeping history cost per publish, GC included? engine.publish with a no-op sink.
import { randomUUID } from 'node:crypto';
import { createMemoryEngine } from '../dist/backends/memory-engine.js';
const size = Number(process.argv[2] ?? 100);
const N = Number(process.argv[3] ?? 400000);
// A live heap like a server's: 5000 connections' worth of small linked objects.
const ballast = [];
for (let c = 0; c < 5000; c++) { const conn = []; for (let k = 0; k < 150; k++) conn.push({ a: k, b: 'x' + k, c: [k, k + 1], d: null }); ballast.push(conn); }
const engine = createMemoryEngine({ message() {}, presence() {}, resync() {} });
const from = { sub: 'u1', info: { name: 'x' } };
const pad = 'x'.repeat(100);
async function run(n) {
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    const data = { t: Date.now(), seq: i, pad };
    const json = JSON.stringify(data);
    await engine.publish('/', { id: randomUUID(), room: `bench:room${i % 1000}`, event: 'm' + '', data, ts: Date.now(), from }, { size, ttlMs: 300000 }, { binary: false, dataJson: json });
  }
  return ((performance.now() - t) * 1000) / n;
}
await run(N / 4);
const t0 = process.cpuUsage();
const us = await run(N);
const cpu = process.cpuUsage(t0);
console.log(`size ${size}: ${us.toFixed(2)} µs wall/publish, ${((cpu.user + cpu.system) / N).toFixed(2)} µs CPU/publish (all threads)`);
