/**
 * A Redis Cluster of the bench's own: `shards` primaries (no replicas) on free loopback ports,
 * created with `redis-cli --cluster create`, no persistence; killed when the bench exits.
 * `stats()` reads each shard's command counts (INFO commandstats) and CPU time.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { sleep } from './proc.mjs';

const procs = new Set();
process.on('exit', () => {
  for (const p of procs) p.kill('SIGKILL');
});

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

async function until(what, check, ms = 15_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`redis cluster: timed out waiting for ${what}`);
    await sleep(100);
  }
}

function parseStats(text) {
  const calls = {};
  let cpuUs = 0;
  for (const line of text.split('\r\n')) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m) calls[m[1]] = Number(m[2]);
    const c = /^used_cpu_(sys|user):([\d.]+)/.exec(line);
    if (c) cpuUs += Number(c[2]) * 1e6;
  }
  return { calls, cpuUs };
}

/** Starts `shards` (>= 3) cluster primaries; resolves once every slot is served. */
export async function startRedisCluster(shards = 3) {
  if (shards < 3) throw new Error('redis-cli --cluster create needs at least 3 primaries');
  const dir = mkdtempSync(join(tmpdir(), 'rc-bench-cluster-'));
  const ports = [];
  for (let i = 0; i < shards; i++) ports.push([await freePort(), await freePort()]);
  const started = ports.map(([port, bus], i) => {
    const p = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--cluster-port',
        String(bus),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${i}.conf`),
        '--cluster-announce-ip',
        '127.0.0.1',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
      ],
      { stdio: 'ignore' },
    );
    procs.add(p);
    p.once('exit', () => procs.delete(p));
    return p;
  });
  const clients = ports.map(([port]) => {
    const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    c.on('error', () => undefined);
    return c;
  });
  await Promise.all(clients.map((c) => until('a node', () => c.ping())));
  await new Promise((resolve, reject) =>
    execFile(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map(([p]) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 20_000 },
      (err) => (err ? reject(err) : resolve()),
    ),
  );
  await until('cluster_state:ok on every node', async () => {
    const infos = await Promise.all(clients.map((c) => c.cluster('INFO')));
    return infos.every((i) => /cluster_state:ok/.test(i) && /cluster_slots_ok:16384/.test(i));
  });
  return {
    seeds: ports.map(([port]) => ({ host: '127.0.0.1', port })),
    /** Per shard (by port): command counts and CPU µs. */
    async stats() {
      const out = {};
      await Promise.all(
        clients.map(async (c, i) => {
          out[ports[i][0]] = parseStats(await c.info('all'));
        }),
      );
      return out;
    },
    async stop() {
      for (const c of clients) c.disconnect();
      for (const p of started) if (p.exitCode === null) p.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
