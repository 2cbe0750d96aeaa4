import { afterAll, describe, expect, it } from 'vitest';
import { roomKeys } from '../../src/backends/redis-keys.js';
import type { RedisTarget } from '../../src/config.js';
import type { HistoryPolicy } from '../../src/rooms/engine.js';
import { until } from '../helpers/broker.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
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

function sentinelTarget(s: SentinelSet): RedisTarget {
  return {
    kind: 'sentinel',
    sentinels: s.sentinels.map((x) => ({ host: x.host, port: x.port })),
    name: s.masterName,
    sentinelPassword: null,
    password: null,
    tls: false,
  };
}

/** Publishes `n` messages to `room` with the replica stopped and cut off, then kills the primary. */
async function publishThenLose(s: SentinelSet, n: TestNode, room: string, count: number) {
  await until(
    async () =>
      parseInfo(await cmd(s.replica, 'INFO', 'replication')).master_repl_offset ===
      parseInfo(await cmd(s.primary, 'INFO', 'replication')).master_repl_offset,
    5000,
    'the replica in sync',
  );
  const pid = Number(parseInfo(await cmd(s.replica, 'INFO', 'server')).process_id);
  process.kill(pid, 'SIGSTOP');
  const lost = [];
  try {
    await cmd(s.primary, 'CLIENT', 'KILL', 'TYPE', 'replica');
    for (let i = 0; i < count; i++) lost.push(await n.engine.publish('/', draft(room), KEEP));
    await s.kill('primary');
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  return lost;
}

/** The first publish to `room` that the (new) primary takes. */
function firstPublish(n: TestNode, room: string) {
  return until(
    async () => {
      try {
        return await n.engine.publish('/', draft(room), KEEP);
      } catch {
        return null;
      }
    },
    20_000,
    'a publish on the new primary',
  );
}

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
    node = await startNode(sentinelTarget(set), { requestTimeoutMs: 1000 });
    const room = 'lost:1';
    const kept = [];
    for (let i = 0; i < 5; i++) kept.push(await node.engine.publish('/', draft(room), KEEP));
    const lost = await publishThenLose(set, node, room, 5);
    expect(lost.map((p) => p.offset)).toEqual([6, 7, 8, 9, 10]);
    await set.waitForFailover({ from: set.primary, timeoutMs: 20_000 });
    const after = await firstPublish(node, room);
    // The old epoch named offsets 6..10 for messages the new primary never got: not again.
    expect(after.epoch).not.toBe(kept[0]!.epoch);
    expect(after.offset).toBe(1);
    const history = await node.engine.history('/', room, { limit: 100 }, KEEP);
    expect(history.epoch).toBe(after.epoch);
    expect(history.messages.map((m) => m.offset)).toEqual([1]);
  }, 60_000);
});

/**
 * A room's stream can reach a primary with another one's replication ID and no trace of a
 * promotion on this primary: a promoted primary restarted (its `master_replid2` is reset) or a
 * slot migrated off it, before the room was touched again. If that promotion lost the room's last
 * writes, keeping the epoch gives their offsets to new messages. So any ID this primary does not
 * have starts a new epoch. Here the stream is given such an ID, and another process's run_id, by
 * hand, on a primary that was never promoted (the end state of both cases; the restart itself is
 * in docs/cluster.md).
 */
describe('redis engine: a stream last written by a primary this one cannot vouch for', () => {
  let redis: TestRedis | undefined;
  let engineNode: TestNode | undefined;
  afterAll(async () => {
    await engineNode?.close();
    await redis?.stop();
  });

  it('starts a new epoch, though this primary was never promoted', async () => {
    redis = await startRedis();
    engineNode = await startNode(redis.url, { failover: true, prefix: 'lineage' });
    const room = 'lineage:1';
    const first = [];
    for (let i = 0; i < 3; i++) first.push(await engineNode.engine.publish('/', draft(room), KEEP));
    // Written by this primary all along: one epoch.
    expect(new Set(first.map((p) => p.epoch)).size).toBe(1);
    const stream = roomKeys('lineage', '/', room).stream;
    expect(await engineNode.client.hget(stream, 'r')).toMatch(/^[0-9a-f]{40}$/);
    expect(await engineNode.client.hget(stream, 'n')).toMatch(/^[0-9a-f]{40}$/);
    await engineNode.client.hset(stream, 'r', 'f'.repeat(40), 'n', 'e'.repeat(40));
    const after = await engineNode.engine.publish('/', draft(room), KEEP);
    expect(after.epoch).not.toBe(first[0]!.epoch);
    expect(after.offset).toBe(1);
    const next = await engineNode.engine.publish('/', draft(room), KEEP);
    expect(next).toMatchObject({ epoch: after.epoch, offset: 2 });
  });
});

/**
 * A primary with no replication backlog (restarted without data) makes one when a replica attaches,
 * and takes a new replication ID then, with no `master_replid2`: no failover, and nothing lost. It
 * used to start a second epoch a second after such a restart and delete what was acknowledged in
 * between (the rare failure of the Sentinel outage test: nodes still resubscribing never got those
 * messages). Here the replica is held (SIGSTOP) across the primary's restart, so that the room is
 * written before it attaches.
 */
describe('redis engine: a replica attaching to a primary restarted without data', () => {
  let primary: TestRedis | undefined;
  let replica: TestRedis | undefined;
  let engineNode: TestNode | undefined;
  afterAll(async () => {
    replica?.thaw();
    await engineNode?.close();
    await replica?.stop();
    await primary?.stop();
  });

  const attached = async (p: TestRedis) =>
    parseInfo(await p.command('INFO', 'replication')).connected_slaves === '1';

  it("keeps the room's epoch and history when the primary's ID changes as the replica attaches", async () => {
    primary = await startRedis();
    replica = await startRedis();
    await replica.command('REPLICAOF', '127.0.0.1', String(primary.port));
    await until(() => attached(primary as TestRedis), 10_000, 'the replica attached');
    engineNode = await startNode(primary.url, { failover: true, prefix: 'backlog' });
    const room = 'backlog:1';
    replica.freeze();
    await primary.kill();
    await primary.restart();
    const before = await until(
      async () => {
        try {
          return await (engineNode as TestNode).engine.publish('/', draft(room), KEEP);
        } catch {
          return null;
        }
      },
      10_000,
      'a publish after the restart',
    );
    const idBefore = parseInfo(await primary.command('INFO', 'replication')).master_replid;
    const second = await engineNode.engine.publish('/', draft(room), KEEP);
    replica.thaw();
    await until(() => attached(primary as TestRedis), 10_000, 'the replica attached again');
    // The replica's attach gave the primary a new replication ID.
    expect(parseInfo(await primary.command('INFO', 'replication')).master_replid).not.toBe(idBefore);
    const after = await engineNode.engine.publish('/', draft(room), KEEP);
    expect(after).toMatchObject({ epoch: before.epoch, offset: second.offset + 1 });
    const history = await engineNode.engine.history('/', room, { limit: 100 }, KEEP);
    expect(history.messages.map((m) => m.offset)).toEqual([before.offset, second.offset, after.offset]);
  }, 60_000);
});
