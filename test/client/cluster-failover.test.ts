import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RoomcastClient, UnrecoveredEvent } from '../../src/client/index.js';
import {
  API_KEY,
  closeClients,
  connect,
  type RunningBroker,
  request,
  SECRET,
  startBroker,
  token,
  until,
} from '../helpers/broker.js';
import { TEST_REDIS } from '../helpers/cluster.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { tempFile } from '../helpers/tmp.js';
import { closeSdkClients, nextClientEvent, range, record, sdkClient, sdkConfig } from './helpers.js';

/**
 * The SDK over a Redis cluster: the node a client is on goes away while messages flow, and every
 * message still arrives exactly once, in order, through another node (offsets and history are
 * shared in Redis, so the rejoin there resumes). Broker processes need `npm run build` first.
 */

const MAIN = resolve(import.meta.dirname, '../../dist/main.js');
const LIMITS = { eventsPerSecond: 100_000 };
const HISTORY = [{ pattern: '*', size: 5000, ttlMs: 0 }];
const TOTAL = 300;

let redis: TestRedis;
const inProcess: RunningBroker[] = [];
const processes: ChildProcess[] = [];

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error('dist/main.js is missing: run `npm run build` first');
  redis = await startRedis();
});
afterEach(async () => {
  closeSdkClients();
  closeClients();
  await Promise.all(inProcess.splice(0).map((b) => b.close()));
  await Promise.all(processes.splice(0).map(stopProcess));
});
afterAll(() => redis?.stop());

async function clusterNode(): Promise<RunningBroker> {
  const node = await startBroker(
    sdkConfig(
      { limits: LIMITS, history: HISTORY },
      { redis: { ...TEST_REDIS, url: redis.url }, shutdownGraceMs: 2000 },
    ),
  );
  inProcess.push(node);
  return node;
}

/** `node dist/main.js serve` on the test Redis; resolves with its URL once it listens. */
async function processNode(): Promise<{ url: string; proc: ChildProcess }> {
  const config = { redis: { ...TEST_REDIS }, namespaces: { '/': { limits: LIMITS, history: HISTORY } } };
  const proc = spawn(process.execPath, [MAIN, 'serve'], {
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: '0',
      NODE_ENV: 'production',
      ROOMCAST_ALLOWED_ORIGINS: '*',
      ROOMCAST_REDIS_URL: redis.url,
      ROOMCAST_JWT_SECRET: SECRET,
      ROOMCAST_API_KEYS: API_KEY,
      ROOMCAST_CONFIG: tempFile('sdk-node.json', JSON.stringify(config)),
    },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  processes.push(proc);
  const url = await new Promise<string>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error('the broker process did not listen within 10 s')), 10_000);
    proc.once('exit', (code) => fail(new Error(`the broker process exited with ${code}`)));
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      const m =
        /"msg":"roomcast listening".*"url":"([^"]+)"|"url":"([^"]+)".*"msg":"roomcast listening"/.exec(line);
      const found = m?.[1] ?? m?.[2];
      if (!found) return;
      clearTimeout(timer);
      ok(found.replace('localhost', '127.0.0.1'));
    });
  });
  return { url, proc };
}

async function stopProcess(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise((done) => proc.once('exit', done));
  proc.kill('SIGKILL');
  await exited;
}

/** A steady stream of `TOTAL` messages from a plain Socket.IO client on `url`, one after another. */
async function stream(url: string, room: string): Promise<void> {
  const pub = await connect(url, token('pub'));
  for (let i = 0; i < TOTAL; i++) {
    const ack = await request(pub, 'publish', { room, event: 'n', data: i });
    if (!ack.ok) throw new Error(`publish ${i}: ${ack.error?.code}`);
  }
}

/** Joins `room` on a client of `urls` and collects what the app sees. */
async function subscriber(urls: string[], room: string) {
  const client: RoomcastClient = sdkClient({ urls, token: token('sub') });
  const lost: UnrecoveredEvent[] = [];
  client.on('unrecovered', (e) => lost.push(e));
  const handle = client.join(room);
  const seen = record(handle);
  expect((await handle.joined).ok).toBe(true);
  return { client, seen, lost };
}

describe('SDK failover in a Redis cluster', () => {
  it('moves to the other node when its node shuts down mid-stream: every message once, in order', async () => {
    const [a, b] = [await clusterNode(), await clusterNode()];
    const { client, seen, lost } = await subscriber([a.url, b.url], 'chat:drain');
    const flowing = stream(b.url, 'chat:drain');
    await until(() => seen.offsets.length >= TOTAL / 3, 10_000, 'the stream to flow');
    const moved = nextClientEvent(client, 'connected', 10_000);
    await a.close(); // graceful: `closing { code: "shutting_down" }`
    expect(await moved).toEqual({ url: b.url });
    await flowing;
    await until(() => seen.offsets.length >= TOTAL, 10_000, 'every message');
    expect(seen.offsets).toEqual(range(1, TOTAL));
    expect(seen.data).toEqual(range(0, TOTAL - 1));
    expect(lost).toEqual([]);
  });

  it('moves to another node when its node is killed mid-stream: every message once, in order', async () => {
    const [a, b] = [await processNode(), await processNode()];
    const { client, seen, lost } = await subscriber([a.url, b.url], 'chat:killed');
    const flowing = stream(b.url, 'chat:killed');
    await until(() => seen.offsets.length >= TOTAL / 3, 10_000, 'the stream to flow');
    const moved = nextClientEvent(client, 'connected', 15_000);
    await stopProcess(a.proc); // SIGKILL: no closing, the connection just dies
    expect(await moved).toEqual({ url: b.url });
    await flowing;
    await until(() => seen.offsets.length >= TOTAL, 10_000, 'every message');
    expect(seen.offsets).toEqual(range(1, TOTAL));
    expect(seen.data).toEqual(range(0, TOTAL - 1));
    expect(lost).toEqual([]);
  }, 40_000);
});
