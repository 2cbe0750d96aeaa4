import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Envelope, PresenceEvent } from '../../src/protocol.js';
import {
  closeClients,
  connect,
  nextEvent,
  type RunningBroker,
  request,
  token,
  until,
} from '../helpers/broker.js';
import { startCluster } from '../helpers/cluster.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { readyz } from './stream-scenario.js';

let redis: TestRedis;
let nodes: RunningBroker[];

beforeAll(async () => {
  redis = await startRedis();
  nodes = await startCluster(2, redis.url, { mode: 'classic' });
});
afterEach(() => closeClients());
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  await redis.stop();
});

describe('cluster: classic adapter mode (PSUBSCRIBE, for servers without sharded pub/sub)', () => {
  it('delivers messages and presence events across nodes', async () => {
    const alice = await connect(nodes[0]!.url, token('alice'));
    await request(alice, 'join', { room: 'chat:classic' });
    const joined = nextEvent<PresenceEvent>(alice, 'presence');
    const bob = await connect(nodes[1]!.url, token('bob'));
    await request(bob, 'join', { room: 'chat:classic' });
    expect(await joined).toMatchObject({ action: 'join', member: { sub: 'bob' } });
    const got = nextEvent<Envelope>(alice, 'message');
    expect(await request(bob, 'publish', { room: 'chat:classic', event: 'e', data: 'hi' })).toMatchObject({
      ok: true,
      offset: 1,
    });
    expect(await got).toMatchObject({ data: 'hi', offset: 1, from: { sub: 'bob' } });
  });

  it('survives Redis going away without an unhandled rejection', async () => {
    const alice = await connect(nodes[0]!.url, token('alice'));
    await request(alice, 'join', { room: 'chat:classic2' });
    await redis.kill();
    expect(await request(alice, 'publish', { room: 'chat:classic2', event: 'e', data: 1 })).toMatchObject({
      ok: false,
      error: { code: 'unavailable' },
    });
    expect(await readyz(nodes[0]!.url)).toBe(503);
    await redis.restart();
    await until(async () => (await readyz(nodes[0]!.url)) === 200, 10_000, 'ready again');
    expect(await request(alice, 'publish', { room: 'chat:classic2', event: 'e', data: 2 })).toMatchObject({
      ok: true,
    });
  });
});
