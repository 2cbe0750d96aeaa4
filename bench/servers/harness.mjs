/**
 * What every server under test shares: it runs in its own process, listens on a free loopback
 * port, and answers the bench over IPC with its own CPU time and memory. `--expose-gc` lets the
 * idle scenario force a collection before reading RSS.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { serveRequests, sleep } from '../lib/proc.mjs';

/** CPU time of the main (JavaScript) thread alone, in µs, from /proc; null elsewhere. */
function mainThreadUs() {
  try {
    const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10_000; // utime + stime, in 100 Hz ticks
  } catch {
    return null;
  }
}

/**
 * @param {() => Promise<{ port: number, close: () => Promise<void>, clients: () => number }>} start
 */
export async function runServer(start) {
  // Before the server creates its Redis clients, so that every command is counted.
  const counts = process.env.BENCH_REDIS_URL ? (await import('./redis-count.mjs')).redisCounts : null;
  const server = await start();
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  let profiler;
  let heapSampling = false;
  serveRequests({
    stats: () => {
      const cpu = process.cpuUsage();
      const mem = process.memoryUsage();
      return {
        cpuUs: cpu.user + cpu.system,
        mainThreadUs: mainThreadUs(),
        userUs: cpu.user,
        systemUs: cpu.system,
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        external: mem.external,
        arrayBuffers: mem.arrayBuffers,
        clients: server.clients(),
        loopDelayP99Ms: loop.percentile(99) / 1e6,
        redis: counts?.() ?? null,
        at: performance.now(),
      };
    },
    resetLoopDelay: () => loop.reset(),
    /**
     * CPU profile of the measured part only (not the connects); `profileStop` writes it to `file`.
     * With `heap`, also V8's sampling heap profiler with the objects the GC collected kept in
     * (so its samples are all that was allocated, not only what lived), written to `heapFile`.
     * BENCH_HEAP_SURVIVORS=1 leaves out what a scavenge collected: the samples are then what
     * survived the young generation (promoted, whether or not a major GC took it later), which is
     * what the scavenges copy and the major GCs mark (bench/heap-top.mjs reads them).
     */
    profileStart: async ({ heap = false } = {}) => {
      profiler ??= new Session();
      profiler.connect();
      await profiler.post('Profiler.enable');
      await profiler.post('Profiler.setSamplingInterval', { interval: 200 });
      if (heap) {
        await profiler.post('HeapProfiler.enable');
        await profiler.post('HeapProfiler.startSampling', {
          samplingInterval: 4096,
          includeObjectsCollectedByMajorGC: true,
          includeObjectsCollectedByMinorGC: !process.env.BENCH_HEAP_SURVIVORS,
        });
        heapSampling = true;
      }
      await profiler.post('Profiler.start');
      return true;
    },
    profileStop: async ({ file, heapFile }) => {
      const { profile } = await profiler.post('Profiler.stop');
      if (heapSampling) {
        const heap = await profiler.post('HeapProfiler.stopSampling');
        heapSampling = false;
        if (heapFile) writeFileSync(heapFile, JSON.stringify(heap.profile));
      }
      profiler.disconnect();
      writeFileSync(file, JSON.stringify(profile));
      return file;
    },
    gc: async () => {
      if (typeof globalThis.gc !== 'function') return false;
      for (let i = 0; i < 3; i++) {
        globalThis.gc();
        await sleep(50);
      }
      return true;
    },
    exit: async () => {
      // A bounded close: the bench has already disconnected its clients.
      await Promise.race([server.close().catch(() => undefined), sleep(3000)]);
    },
  });
  process.send({ event: 'ready', port: server.port, pid: process.pid });
}
