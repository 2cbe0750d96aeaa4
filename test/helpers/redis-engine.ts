import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { createRedisClients, type RedisClients } from '../../src/backends/redis-clients.js';
import { createRedisEngine } from '../../src/backends/redis-engine.js';
import type { RedisTarget } from '../../src/config.js';
import type { Engine } from '../../src/rooms/engine.js';
import { RecordingSink } from '../engine/engine-suite.js';
import { until } from './broker.js';

/** A Redis engine as one node would run it, on its own connections, delivering to a recording sink. */
export interface TestNode {
  engine: Engine;
  /** The command connection (disconnect it to stop the node's heartbeat without a goodbye). */
  client: Redis;
  clients: RedisClients;
  sink: RecordingSink;
  close(): Promise<void>;
}

export interface NodeOptions {
  prefix?: string;
  presenceTtlMs?: number;
  heartbeatMs?: number;
  requestTimeoutMs?: number;
  mode?: 'sharded' | 'classic';
  /** The failover epoch check (on for Sentinel and Cluster targets, off for a URL, by default). */
  failover?: boolean;
}

/** Starts one engine node on `url` (or any Redis target) and waits until it is ready. */
export async function startNode(url: string | RedisTarget, opts: NodeOptions = {}): Promise<TestNode> {
  const requestTimeoutMs = opts.requestTimeoutMs ?? 1000;
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  const target: RedisTarget = typeof url === 'string' ? { kind: 'url', url, tls: false } : url;
  const clients = createRedisClients(target, { requestTimeoutMs, log });
  const sink = new RecordingSink();
  const engine = createRedisEngine(clients, sink, {
    prefix: opts.prefix ?? `t${randomUUID().slice(0, 8)}`,
    mode: opts.mode ?? 'sharded',
    presenceTtlMs: opts.presenceTtlMs ?? 2000,
    heartbeatMs: opts.heartbeatMs ?? 200,
    requestTimeoutMs,
    failover: opts.failover ?? target.kind !== 'url',
    log,
  });
  await until(() => engine.isReady(), 5000, 'engine ready');
  return {
    engine,
    client: clients.command as Redis,
    clients,
    sink,
    async close() {
      await engine.close();
      await clients.close();
    },
  };
}
