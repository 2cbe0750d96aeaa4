import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol.js';
import { closeClients, connect, nextEvent, request, token, until } from '../helpers/broker.js';
import { api, type BrokerProcess, startProcess } from '../helpers/cluster.js';
import { startRedisCluster, startSentinelSet, startTlsRedis } from '../helpers/redis-topologies.js';
import { readyz } from './stream-scenario.js';

/**
 * Redis over TLS only (the plain port is off), certificates from a throwaway CA made with openssl
 * at test time. The brokers are processes (`node dist/main.js`: run `npm run build` first) that
 * trust the CA through Node's own NODE_EXTRA_CA_CERTS, as a deployment with a private CA would;
 * the server certificate is checked (hostname 127.0.0.1, IP SAN), not skipped.
 */
let procs: BrokerProcess[] = [];
const stops: Array<() => Promise<void>> = [];

afterEach(async () => {
  closeClients();
  await Promise.all(procs.map((p) => p.stop()));
  procs = [];
  for (const stop of stops.splice(0)) await stop();
});

/** A member on the second process gets what a client of the first publishes. */
async function deliversAcross(a: BrokerProcess, b: BrokerProcess, room: string): Promise<void> {
  for (const p of [a, b]) await until(async () => (await readyz(p.url)) === 200, 15_000, '/readyz 200');
  const alice = await connect(a.url, token('alice'));
  const bob = await connect(b.url, token('bob'));
  expect(await request(bob, 'join', { room })).toMatchObject({ ok: true });
  const got = nextEvent<Envelope>(bob, 'message');
  const ack = await request(alice, 'publish', { room, event: 'e', data: 'over tls' });
  expect(ack).toMatchObject({ ok: true, offset: 1 });
  expect(await got).toMatchObject({ room, offset: 1, data: 'over tls' });
  const history = await request<{ messages: Envelope[] }>(alice, 'history', { room });
  expect(history.messages!.map((m) => m.data)).toEqual(['over tls']);
}

describe('cluster mode over TLS', () => {
  if (!existsSync(resolve(import.meta.dirname, '../../dist/main.js'))) {
    throw new Error('dist/main.js is missing: run `npm run build` before the cluster tests');
  }

  it('URL mode: a rediss:// URL to a TLS-only redis-server', async () => {
    const redis = await startTlsRedis();
    stops.push(() => redis.stop());
    const env = { NODE_EXTRA_CA_CERTS: redis.certs.caFile };
    const url = `rediss://127.0.0.1:${redis.port}/0`;
    procs = await Promise.all([startProcess(url, {}, env), startProcess(url, {}, env)]);
    await deliversAcross(procs[0]!, procs[1]!, 'tls:url');
  }, 60_000);

  it('Sentinel mode: redis.tls to TLS-only sentinels and data nodes', async () => {
    const set = await startSentinelSet({ tls: true });
    stops.push(() => set.stop());
    const redis = {
      url: null,
      sentinels: set.sentinels.map((s) => `${s.host}:${s.port}`),
      sentinelMaster: set.masterName,
      tls: true,
    };
    // The sentinels and the data nodes use one CA here (makeTestCerts).
    const env = { NODE_EXTRA_CA_CERTS: `${set.dirs[0]}/tls/ca.crt` };
    procs = await Promise.all([startProcess(null, redis, env), startProcess(null, redis, env)]);
    await deliversAcross(procs[0]!, procs[1]!, 'tls:sentinel');
  }, 60_000);

  it('Redis Cluster mode: redis.tls to TLS-only cluster nodes (tls-cluster yes)', async () => {
    const cluster = await startRedisCluster({ primaries: 3, replicasPerPrimary: 0, tls: true });
    stops.push(() => cluster.stop());
    const redis = { url: null, cluster: cluster.seeds.map((s) => `${s.host}:${s.port}`), tls: true };
    const env = { NODE_EXTRA_CA_CERTS: cluster.caFile! };
    procs = await Promise.all([startProcess(null, redis, env), startProcess(null, redis, env)]);
    // Rooms on every shard: the shard subscriber's own connections use TLS too.
    for (const room of ['tls:c0', 'tls:c1', 'tls:c2', 'tls:c3'])
      await deliversAcross(procs[0]!, procs[1]!, room);
  }, 60_000);

  it('a certificate the broker does not trust: it runs not ready, names the error, and refuses publishes', async () => {
    const redis = await startTlsRedis();
    stops.push(() => redis.stop());
    // No NODE_EXTRA_CA_CERTS: the server certificate's CA is unknown here, and is not skipped.
    procs = [await startProcess(`rediss://127.0.0.1:${redis.port}/0`)];
    const p = procs[0]!;
    await until(
      () =>
        p.logs.some((l) => l.msg === 'redis connection error' && /certificate/i.test(String(l.err ?? ''))),
      15_000,
      'a log entry naming the certificate error',
    );
    expect(await readyz(p.url)).toBe(503);
    const res = await api(p.url, 'POST', '/v1/publish', { room: 'tls:untrusted', event: 'e', data: 1 });
    expect(res.status).toBe(503);
    expect(res.body).toMatchObject({ ok: false, error: { code: 'unavailable' } });
  }, 60_000);
});
