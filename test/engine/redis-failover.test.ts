import { afterAll, describe, expect, it } from 'vitest';
import type { RedisTarget } from '../../src/config.js';
import type { HistoryPolicy } from '../../src/rooms/engine.js';
import { until } from '../helpers/broker.js';
import { startNode, type TestNode } from '../helpers/redis-engine.js';
import { cmd, parseInfo, type SentinelSet, startSentinelSet } from '../helpers/redis-topologies.js';
import { draft } from './engine-suite.js';

const KEEP: HistoryPolicy = { size: 100, ttlMs: 300_000 };

let set: SentinelSet | undefined;
let node: TestNode | undefined;
afterAll(async () => {
  await node?.close();
  await set?.stop();
});

/**
 * Replication is asynchronous: a replica promoted by Sentinel may lack the last writes the old
 * primary acknowledged. Here it surely does: the replica is stopped (SIGSTOP) and cut off before
 * five publishes, and the primary is killed right after them. The promoted replica still holds
 * the room at the older offset; continuing that epoch would give the five lost offsets to new
 * messages. The room must start a new epoch instead.
 */
describe('redis engine: writes lost in a failover', () => {
  it('starts a new epoch for a room whose last acknowledged writes the new primary lacks', async () => {
    set = await startSentinelSet({ downAfterMs: 1000, failoverTimeoutMs: 3000 });
    const target: RedisTarget = {
      kind: 'sentinel',
      sentinels: set.sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: set.masterName,
      sentinelPassword: null,
      password: null,
      tls: false,
    };
    node = await startNode(target, { requestTimeoutMs: 1000 });
    const room = 'lost:1';
    const kept = [];
    for (let i = 0; i < 5; i++) kept.push(await node.engine.publish('/', draft(room), KEEP));
    await until(
      async () =>
        parseInfo(await cmd(set!.replica, 'INFO', 'replication')).master_repl_offset ===
        parseInfo(await cmd(set!.primary, 'INFO', 'replication')).master_repl_offset,
      5000,
      'the replica in sync',
    );
    const pid = Number(parseInfo(await cmd(set.replica, 'INFO', 'server')).process_id);
    process.kill(pid, 'SIGSTOP');
    const lost = [];
    try {
      await cmd(set.primary, 'CLIENT', 'KILL', 'TYPE', 'replica');
      for (let i = 0; i < 5; i++) lost.push(await node.engine.publish('/', draft(room), KEEP));
      await set.kill('primary');
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    expect(lost.map((p) => p.offset)).toEqual([6, 7, 8, 9, 10]);
    await set.waitForFailover({ from: set.primary, timeoutMs: 20_000 });
    const after = await until(
      async () => {
        try {
          return await node!.engine.publish('/', draft(room), KEEP);
        } catch {
          return null;
        }
      },
      15_000,
      'a publish on the new primary',
    );
    // The old epoch named offsets 6..10 for messages the new primary never got: not again.
    expect(after.epoch).not.toBe(kept[0]!.epoch);
    expect(after.offset).toBe(1);
    const history = await node.engine.history('/', room, { limit: 100 }, KEEP);
    expect(history.epoch).toBe(after.epoch);
    expect(history.messages.map((m) => m.offset)).toEqual([1]);
  }, 60_000);
});
