import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  closeClients,
  connect,
  nextEvent,
  type RunningBroker,
  request,
  startBroker,
  testConfig,
  token,
  until,
} from '../helpers/broker.js';
import { TEST_REDIS } from '../helpers/cluster.js';
import { cmd, type SentinelSet, startSentinelSet } from '../helpers/redis-topologies.js';
import { failoverDuringStream } from './failover-scenario.js';
import { readyz } from './stream-scenario.js';

/**
 * Sentinel mode against real processes: a primary, one replica and three sentinels (down after
 * 1 s, quorum 2), two roomcast nodes configured with the sentinels only. SIGKILL of the primary
 * during a steady stream: the nodes follow the promotion within the sentinels' failover time plus
 * a few seconds, with the guarantees of failover-scenario.ts.
 */
let set: SentinelSet | undefined;
let nodes: RunningBroker[] = [];

beforeAll(async () => {
  set = await startSentinelSet({ downAfterMs: 1000, failoverTimeoutMs: 3000 });
  const sentinels = set.sentinels.map((s) => `${s.host}:${s.port}`);
  const config = () => testConfig({ redis: { ...TEST_REDIS, sentinels, sentinelMaster: set!.masterName } });
  nodes = await Promise.all([startBroker(config()), startBroker(config())]);
}, 60_000);

afterEach(() => closeClients());

afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  await set?.stop();
});

describe('cluster over Redis Sentinel', () => {
  it('finds the primary through the sentinels: publish, history and presence work', async () => {
    const alice = await connect(nodes[0]!.url, token('alice'));
    const bob = await connect(nodes[1]!.url, token('bob'));
    for (const c of [alice, bob])
      expect(await request(c, 'join', { room: 's:basic' })).toMatchObject({ ok: true });
    const ack = await request<{ offset: number }>(alice, 'publish', { room: 's:basic', event: 'e', data: 1 });
    expect(ack).toMatchObject({ ok: true, offset: 1 });
    const history = await request<{ messages: unknown[] }>(bob, 'history', { room: 's:basic' });
    expect(history.messages).toHaveLength(1);
    const presence = await request<{ members: Array<{ sub: string }> }>(bob, 'presence', { room: 's:basic' });
    expect(presence.members?.map((m) => m.sub).sort()).toEqual(['alice', 'bob']);
  });

  // Before the SIGKILL test: it needs the replica (the old primary comes back as one here).
  it('follows a graceful SENTINEL FAILOVER: publishing resumes, /readyz 200, no offset names two messages', async () => {
    const from = await set!.getMasterAddr();
    let failoverMs = 0;
    const result = await failoverDuringStream({
      urls: nodes.map((n) => n.url),
      rooms: ['g:1', 'g:2', 'g:3'],
      async kill() {
        await cmd(set!.sentinels[0]!, 'SENTINEL', 'FAILOVER', set!.masterName);
        failoverMs = (await set!.waitForFailover({ from, timeoutMs: 20_000 })).ms;
      },
    });
    console.log(`graceful sentinel failover: switched after ~${failoverMs} ms; ${JSON.stringify(result)}`);
    expect(result.resumedMs).toBeLessThan(10_000);
    // A promotion changes the replication ID: the epoch check starts a new epoch for every room,
    // graceful or not (Sentinel does not wait for the replica to catch up: the old primary takes
    // writes until it is demoted, and those are lost with it).
    expect(result.newEpochs).toBe(3);
  }, 60_000);

  it('follows a SIGKILL of the primary: /readyz 503 then 200, publishing resumes, no offset names two messages', async () => {
    const from = await set!.getMasterAddr();
    let failoverMs = 0;
    const result = await failoverDuringStream({
      urls: nodes.map((n) => n.url),
      rooms: ['s:1', 's:2', 's:3'],
      expectNotReady: true,
      async kill() {
        await set!.kill('currentPrimary');
        void set!.waitForFailover({ from, timeoutMs: 20_000 }).then((f) => {
          failoverMs = f.ms;
        });
      },
    });
    console.log(`sentinel failover: sentinels switched after ~${failoverMs} ms; ${JSON.stringify(result)}`);
    // Sentinel: down after 1 s, then election and promotion; the nodes follow within a few seconds.
    expect(result.resumedMs).toBeLessThan(10_000);
    expect(result.refused).toBeGreaterThan(0);
  }, 60_000);

  it('a sentinel down: a node that starts with it first in its list finds the primary through the others', async () => {
    await set!.kill('sentinel0');
    const sentinels = set!.sentinels.map((s) => `${s.host}:${s.port}`);
    const late = await startBroker(
      testConfig({ redis: { ...TEST_REDIS, sentinels, sentinelMaster: set!.masterName } }),
    );
    nodes.push(late);
    await until(async () => (await readyz(late.url)) === 200, 15_000, 'the late node ready');
    const alice = await connect(nodes[0]!.url, token('alice'));
    const carol = await connect(late.url, token('carol'));
    for (const c of [alice, carol])
      expect(await request(c, 'join', { room: 's:one-down' })).toMatchObject({ ok: true });
    const got = nextEvent<{ data: unknown }>(carol, 'message');
    const ack = await request(alice, 'publish', { room: 's:one-down', event: 'e', data: 'through two' });
    expect(ack).toMatchObject({ ok: true, offset: 1 });
    expect(await got).toMatchObject({ data: 'through two' });
    const history = await request<{ messages: unknown[] }>(carol, 'history', { room: 's:one-down' });
    expect(history.messages).toHaveLength(1);
  }, 60_000);
});
