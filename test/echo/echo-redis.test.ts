import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker, testConfig, until } from '../helpers/broker.js';
import { atLeast, broadcastPhp, closeEchoClients, echoClient, recorder } from '../helpers/laravel.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

/**
 * One roomcast node in memory (no `redis.url`) taking Laravel's broadcasts from the app's own
 * Redis through `echo.redisUrl`, with Laravel 13's default prefix.
 */
const PREFIX = 'laravel-database-';
const APP = { appId: 'app-1', key: 'app-key-0123456789' };

let redis: TestRedis;
let rc: RunningBroker;

beforeAll(async () => {
  redis = await startRedis();
  rc = await startBroker(
    testConfig({ namespaces: { '/': { echo: { redisUrl: redis.url, redisPrefix: PREFIX, apps: [APP] } } } }),
  );
  await until(
    async () => /name=roomcast-echo .*psub=1/.test(await redis.command('CLIENT', 'LIST')),
    8000,
    'the echo subscriber',
  );
});
afterEach(() => closeEchoClients());
afterAll(async () => {
  await rc?.close();
  await redis?.stop();
});

describe("Laravel's redis broadcaster into a roomcast node without a cluster", () => {
  it('takes broadcasts under its prefix only; messages that are not Laravel broadcasts are ignored', async () => {
    expect(rc.broker.engine.kind).toBe('memory');
    const alice = await echoClient(rc.url);
    const got = recorder();
    alice.channel('orders').listen('.shipped', got.cb);
    await until(
      async () => (await rc.broker.engine.rooms('/', 'orders')).some((s) => s.room === 'orders'),
      5000,
      'subscribed',
    );
    // Another prefix (Laravel 12's default) is another app's: not ours.
    await broadcastPhp(redis.port, ['--as=shipped', '--data={"n":0}', 'orders'], {
      REDIS_PREFIX: 'laravel_database_',
    });
    // Not Laravel broadcasts: not JSON, no event, an array, a channel outside the room grammar.
    for (const [channel, text] of [
      [`${PREFIX}orders`, 'not json'],
      [`${PREFIX}orders`, '{"data":{"n":-1}}'],
      [`${PREFIX}orders`, '[1,2]'],
      [`${PREFIX}bad channel`, '{"event":"shipped","data":{}}'],
    ] as const)
      await redis.command('PUBLISH', channel, text);
    await broadcastPhp(redis.port, ['--as=shipped', '--with', '--data={"n":1}', 'orders'], {
      REDIS_PREFIX: PREFIX,
    });
    await atLeast(got.seen, 1);
    expect(got.seen).toEqual([{ n: 1, socket: null }]);
  });
});
