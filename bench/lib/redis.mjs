/**
 * A redis-server of the bench's own, on a free loopback port, with no persistence; killed when
 * the bench exits. `stats()` reads the command counts (INFO commandstats, which also counts the
 * commands that Lua scripts run inside Redis) and Redis's own CPU time.
 */
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { sleep } from './proc.mjs';

const servers = new Set();
process.on('exit', () => {
  for (const s of servers) s.kill('SIGKILL');
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

export async function startRedis() {
  const port = await freePort();
  const proc = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'no',
    ],
    { stdio: 'ignore' },
  );
  servers.add(proc);
  proc.once('exit', () => servers.delete(proc));
  const url = `redis://127.0.0.1:${port}/0`;
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  client.on('error', () => undefined);
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await client.connect();
      await client.ping();
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`redis-server on port ${port} did not start`);
      client.disconnect();
      await sleep(100);
    }
  }
  return {
    url,
    async stats() {
      const text = await client.info('all');
      const calls = {};
      let cpuUs = 0;
      for (const line of text.split('\r\n')) {
        const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
        if (m) calls[m[1]] = Number(m[2]);
        const c = /^used_cpu_(sys|user):([\d.]+)/.exec(line);
        if (c) cpuUs += Number(c[2]) * 1e6;
      }
      return { calls, cpuUs };
    },
    async stop() {
      client.disconnect();
      if (proc.exitCode === null) proc.kill('SIGKILL');
    },
  };
}
