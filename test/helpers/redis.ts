import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from './broker.js';

/**
 * A real `redis-server` for tests: its own free port (never 6379) and temp dir, killed with
 * SIGKILL and restarted on the same port for fault tests. Nothing depends on a Redis that
 * happens to be running.
 *
 * @example
 * const redis = await startRedis();
 * await redis.kill();      // Redis away
 * await redis.restart();   // back on the same port, data gone (unless `persist`)
 * await redis.stop();
 */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  /** SIGKILL, and wait until the port is closed. */
  kill(): Promise<void>;
  /** Starts it again on the same port (after `kill`). */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a frozen Redis. */
  freeze(): void;
  thaw(): void;
  /** Runs one command through a fresh connection (RESP inline), for checks in tests. */
  command(...args: string[]): Promise<string>;
  stop(): Promise<void>;
}

export interface RedisOptions {
  /** Keep an append-only file (fsync always), so `restart()` brings the data back. */
  persist?: boolean;
}

/** Starts a `redis-server` on a free port in a temp dir and waits until it answers PING. */
export async function startRedis(opts: RedisOptions = {}): Promise<TestRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'roomcast-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    opts.persist ? 'yes' : 'no',
    // With persistence, fsync every write: a SIGKILL must not lose an offset that was acknowledged.
    '--appendfsync',
    'always',
    '--loglevel',
    'warning',
  ];
  let proc: ChildProcess | undefined;
  const launch = async () => {
    proc = spawn('redis-server', args, { stdio: 'ignore' });
    await until(() => ping(port), 5000, `redis-server on port ${port}`);
  };
  await launch();
  const redis: TestRedis = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    dir,
    async kill() {
      const p = proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((resolve) => p.once('exit', resolve));
      p.kill('SIGKILL');
      await exited;
      await until(async () => !(await ping(port)), 5000, 'redis port to close');
    },
    restart: launch,
    freeze: () => void proc?.kill('SIGSTOP'),
    thaw: () => void proc?.kill('SIGCONT'),
    command: (...a) => rawCommand(port, a),
    async stop() {
      proc?.kill('SIGCONT');
      await redis.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return redis;
}

/** A port the OS says is free now; never Redis's default 6379. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        srv.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
      });
    });
    if (port !== 6379 && port !== 0) return port;
  }
}

async function ping(port: number): Promise<boolean> {
  try {
    return (await rawCommand(port, ['PING'], 500)).startsWith('+PONG');
  } catch {
    return false;
  }
}

/** Sends one command as a RESP array and resolves with the raw reply once it looks complete. */
function rawCommand(port: number, args: string[], ms = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = new Socket();
    let buf = '';
    const timer = setTimeout(() => done(new Error('redis command timed out')), ms);
    const done = (err?: Error) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(buf);
    };
    sock.once('error', (err) => done(err));
    sock.on('data', (chunk) => {
      buf += chunk.toString();
      if (buf.endsWith('\r\n') && replyComplete(buf)) done();
    });
    sock.connect(port, '127.0.0.1', () => {
      const parts = args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`);
      sock.write(`*${args.length}\r\n${parts.join('')}`);
    });
  });
}

/** Good enough for the replies tests read: simple strings, integers, errors and one bulk string. */
function replyComplete(buf: string): boolean {
  if (buf[0] !== '$') return true;
  const len = Number(buf.slice(1, buf.indexOf('\r\n')));
  if (len < 0) return true;
  return Buffer.byteLength(buf) >= buf.indexOf('\r\n') + 2 + len + 2;
}
