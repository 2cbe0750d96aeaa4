import { type ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { API_KEY, type RunningBroker, SECRET, startBroker, testConfig } from './broker.js';
import { type ClusterOptions, type RedisClusterHandle, startRedisCluster } from './redis-topologies.js';
import { tempFile } from './tmp.js';

/** Cluster settings for tests: presence expires in 3 s, Redis calls time out after 1 s. */
export const TEST_REDIS = { presenceTtlMs: 3000, heartbeatMs: 300, requestTimeoutMs: 1000 };

/** `n` brokers in this process on port 0, all on the Redis at `url`. */
export async function startCluster(
  n: number,
  url: string,
  redis: Record<string, unknown> = {},
  overrides: Record<string, unknown> = {},
): Promise<RunningBroker[]> {
  const config = () => testConfig({ ...overrides, redis: { ...TEST_REDIS, url, ...redis } });
  return Promise.all(Array.from({ length: n }, () => startBroker(config())));
}

/** The Redis channel of a room in namespace `/` (its hash tag decides the room's Cluster slot). */
export const roomChannel = (room: string) => `roomcast:{/:${room}}:m`;

/**
 * A Redis Cluster started with `opts`, and `n` brokers in this process given its seed nodes only;
 * `stop()` closes the brokers, then the cluster.
 */
export async function brokersOnRedisCluster(
  n: number,
  opts: ClusterOptions,
): Promise<{ cluster: RedisClusterHandle; nodes: RunningBroker[]; stop(): Promise<void> }> {
  const cluster = await startRedisCluster(opts);
  const seeds = cluster.seeds.map((s) => `${s.host}:${s.port}`);
  const nodes = await startCluster(n, '', { url: null, cluster: seeds });
  return {
    cluster,
    nodes,
    async stop() {
      await Promise.all(nodes.map((node) => node.close()));
      await cluster.stop();
    },
  };
}

/** A broker running as its own process (`node dist/main.js`); run `npm run build` first. */
export interface BrokerProcess {
  readonly url: string;
  readonly proc: ChildProcess;
  /** Every JSON log line so far. */
  readonly logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code (or signal name). */
  readonly exited: Promise<number | string>;
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, then SIGKILL after `ms`; resolves when it is gone. */
  stop(ms?: number): Promise<void>;
}

const MAIN = resolve(import.meta.dirname, '../../dist/main.js');

/**
 * Starts `node dist/main.js` with PORT=0 against `redisUrl` (null: the config file's `redis` block
 * says where Redis is) and resolves once it logs `roomcast listening` (its `url` field says where).
 * `env` adds variables (e.g. NODE_EXTRA_CA_CERTS for a Redis behind a private CA).
 */
export async function startProcess(
  redisUrl: string | null,
  redis: Record<string, unknown> = {},
  env: Record<string, string> = {},
): Promise<BrokerProcess> {
  const file = tempFile('node-config.json', JSON.stringify({ redis: { ...TEST_REDIS, ...redis } }));
  const proc = spawn(process.execPath, [MAIN, 'serve'], {
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: '0',
      ...(redisUrl === null ? {} : { ROOMCAST_REDIS_URL: redisUrl }),
      ROOMCAST_JWT_SECRET: SECRET,
      ROOMCAST_API_KEYS: API_KEY,
      ROOMCAST_CONFIG: file,
      ROOMCAST_LOG_LEVEL: 'info',
      NODE_ENV: 'production',
      ROOMCAST_ALLOWED_ORIGINS: '*',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | string>((done) =>
    proc.once('exit', (code, sig) => done(code ?? sig ?? 'unknown')),
  );
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('broker process did not start within 30 s')), 30_000);
    void exited.then((code) => fail(new Error(`broker process exited with ${code}`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const entry = parseJson(line);
      if (!entry) return;
      logs.push(entry);
      if (entry.msg === 'roomcast listening' && typeof entry.url === 'string') {
        clearTimeout(timer);
        ok(entry.url.replace('localhost', '127.0.0.1'));
      }
    });
  });
  return {
    url,
    proc,
    logs,
    exited,
    signal: (sig) => void proc.kill(sig),
    async stop(ms = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGCONT');
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), ms);
      await exited;
      clearTimeout(timer);
    },
  };
}

function parseJson(line: string): Record<string, unknown> | null {
  if (!line.startsWith('{')) return null;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** Calls the server API of a broker with the test API key; resolves with status and JSON body. */
export async function api(
  url: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${API_KEY}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
