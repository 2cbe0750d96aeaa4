import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { failFastOptions } from '../../src/backends/redis-clients.js';
import { createRedisEngine } from '../../src/backends/redis-engine.js';
import type { Engine } from '../../src/rooms/engine.js';
import { until } from './broker.js';

/** A Redis engine as one node would run it, on its own fail-fast connection. */
export interface TestNode {
  engine: Engine;
  client: Redis;
  close(): Promise<void>;
}

export interface NodeOptions {
  prefix?: string;
  presenceTtlMs?: number;
  heartbeatMs?: number;
  requestTimeoutMs?: number;
}

/** Starts one engine node on `url` and waits until it is ready. */
export async function startNode(url: string, opts: NodeOptions = {}): Promise<TestNode> {
  const requestTimeoutMs = opts.requestTimeoutMs ?? 1000;
  const client = new Redis(url, failFastOptions(requestTimeoutMs));
  client.on('error', () => undefined);
  const engine = createRedisEngine(client, {
    prefix: opts.prefix ?? `t${randomUUID().slice(0, 8)}`,
    presenceTtlMs: opts.presenceTtlMs ?? 2000,
    heartbeatMs: opts.heartbeatMs ?? 200,
    requestTimeoutMs,
    log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  });
  await until(() => engine.isReady(), 5000, 'engine ready');
  return {
    engine,
    client,
    async close() {
      await engine.close();
      client.disconnect();
    },
  };
}
