import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import { closeClients, connect, request, token } from '../helpers/broker.js';
import { type BrokerProcess, startProcess } from '../helpers/cluster.js';
import { type ModeRedis, type RedisMode, startModeRedis } from '../helpers/redis-modes.js';
import { redisOutageDuringStream } from './stream-scenario.js';

/**
 * Brokers as separate processes (`node dist/main.js`): run `npm run build` first. One Redis by
 * default (25 s is the longest test of the suite); `ROOMCAST_OUTAGE_MODES=url,sentinel,cluster`
 * runs it in the other modes too (scripts/soak.sh does): the Sentinel primary, or every Cluster
 * primary, away 25 s and back with its data.
 */
const MODES = (process.env.ROOMCAST_OUTAGE_MODES ?? 'url').split(',') as RedisMode[];

describe.each(MODES)('cluster: a long Redis outage (three broker processes, %s mode)', (mode) => {
  let redis: ModeRedis;
  let procs: BrokerProcess[] = [];

  beforeAll(async () => {
    if (!existsSync(resolve(import.meta.dirname, '../../dist/main.js'))) {
      throw new Error('dist/main.js is missing: run `npm run build` before the cluster tests');
    }
    // Persistent (fsync always): the data survives the outage.
    redis = await startModeRedis(mode, { persist: true });
    const { url, ...rest } = redis.config;
    procs = await Promise.all([0, 1, 2].map(() => startProcess((url as string | null) ?? null, rest)));
  }, 60_000);
  afterAll(async () => {
    if (process.env.DUMP_LOGS) {
      for (const [i, p] of procs.entries()) for (const l of p.logs) console.log(i, JSON.stringify(l));
    }
    closeClients();
    await Promise.all(procs.map((p) => p.stop()));
    await redis?.stop();
  });

  it('survives Redis killed for 25 s during a steady stream: no exit, no loss, no restart', async () => {
    const room = 'chat:stream25';
    const result = await redisOutageDuringStream(
      procs.map((p) => p.url),
      redis,
      25_000,
      room,
    );
    expect(result.refused).toBeGreaterThan(0);
    for (const p of procs) {
      expect(p.proc.exitCode).toBeNull();
      expect(p.proc.signalCode).toBeNull();
    }
    // History holds one epoch, without holes. With one primary (URL mode) the same epoch goes on, so
    // a member that was away recovers the whole stream from history. A Sentinel or Cluster primary
    // restarted comes back with a new replication ID, so the room starts a new epoch there
    // (docs/cluster.md, the failover guarantee) and history holds what came after.
    const late = await connect(procs[2]!.url, token('late'));
    const first = await request<{ messages: Envelope[] }>(late, 'history', { room, limit: 1000 });
    const epochs = new Set(first.messages!.map((m) => m.epoch));
    expect(epochs.size).toBe(1);
    const offsets = first.messages!.map((m) => m.offset);
    expect(offsets).toEqual(offsets.map((_, i) => offsets[0]! + i));
    if (mode === 'url') expect(offsets.length).toBeGreaterThanOrEqual(Math.min(result.acked, 100));
  }, 90_000);
});
