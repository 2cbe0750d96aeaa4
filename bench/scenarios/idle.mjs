/**
 * Idle connections: memory per connection. The server's RSS and heap are read after a forced GC
 * before any client connects and again after N connections have connected and each joined one
 * room (rooms of `members`); the difference divided by N is the cost of one idle connection.
 * The CPU spent meanwhile, per connection, is the cost of a connect + auth + join.
 */
import { sleep } from '../lib/proc.mjs';
import { openSubscribers, startServer, startSubscribers, stopAll } from '../lib/setup.mjs';

export async function runIdle(target, p) {
  const subs = startSubscribers(p.procs);
  let server;
  try {
    server = await startServer(target, { label: `${p.label}-${target}` });
    await sleep(500);
    await server.request('gc');
    const base = await server.request('stats');
    if (p.profileDir) await server.request('profileStart');
    const t0 = performance.now();
    await openSubscribers(subs, { target, urls: [server.url], rooms: p.rooms });
    const connectSeconds = (performance.now() - t0) / 1000;
    const connected = await server.request('stats');
    if (p.profileDir) {
      await server.request('profileStop', { file: `${p.profileDir}/${server.label}.cpuprofile` });
    }
    await sleep(1000);
    await server.request('gc');
    const after = await server.request('stats');
    const n = p.rooms.length;
    return {
      connections: after.clients,
      baselineRssMB: base.rss / 2 ** 20,
      rssMB: after.rss / 2 ** 20,
      rssKBPerConnection: (after.rss - base.rss) / 1024 / n,
      heapKBPerConnection: (after.heapUsed - base.heapUsed) / 1024 / n,
      externalKBPerConnection: (after.external - base.external) / 1024 / n,
      cpuUsPerConnect: (connected.cpuUs - base.cpuUs) / n,
      connectsPerSec: n / connectSeconds,
    };
  } finally {
    await Promise.allSettled(subs.map((s) => s.request('close', {}, 10_000)));
    await stopAll([...subs, server]);
  }
}
