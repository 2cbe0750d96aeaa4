import { beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, SECRET } from '../helpers/broker.js';
import { assertBuilt, runCli } from '../helpers/process.js';

/** The Redis modes of contract section 8: exactly one of URL, Sentinel or Cluster; malformed is exit 78. */
const KEYS = { ROOMCAST_JWT_SECRET: SECRET, ROOMCAST_API_KEYS: API_KEY };
beforeAll(() => assertBuilt());

async function expectConfigExit(env: NodeJS.ProcessEnv, ...words: string[]): Promise<void> {
  const r = await runCli(['check-config'], { ...KEYS, ...env });
  expect(r.code, r.stderr).toBe(78);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  for (const word of words) expect(lines[0]).toContain(word);
}

describe.concurrent('config: Redis modes', () => {
  it.each([
    [
      'URL and Sentinel',
      { ROOMCAST_REDIS_URL: 'redis://127.0.0.1:6379', ROOMCAST_REDIS_SENTINELS: '127.0.0.1:26379' },
      ['redis.url', 'redis.sentinels'],
    ],
    [
      'URL and Cluster',
      { ROOMCAST_REDIS_URL: 'redis://127.0.0.1:6379', ROOMCAST_REDIS_CLUSTER: '127.0.0.1:7000' },
      ['redis.url', 'redis.cluster'],
    ],
    [
      'Sentinel and Cluster',
      { ROOMCAST_REDIS_SENTINELS: '127.0.0.1:26379', ROOMCAST_REDIS_CLUSTER: '127.0.0.1:7000' },
      ['redis.sentinels', 'redis.cluster'],
    ],
  ])('exits 78 naming both fields when %s are set', async (_what, env, fields) => {
    await expectConfigExit(env, ...fields);
  });

  it.each([
    [
      'a sentinel without a port',
      { ROOMCAST_REDIS_SENTINELS: '127.0.0.1:26379,10.0.0.2' },
      'redis.sentinels.1',
    ],
    ['a port out of range', { ROOMCAST_REDIS_SENTINELS: '127.0.0.1:70000' }, 'redis.sentinels.0'],
    ['a cluster seed that is a URL', { ROOMCAST_REDIS_CLUSTER: 'redis://127.0.0.1:7000' }, 'redis.cluster.0'],
    ['a cluster seed with a word port', { ROOMCAST_REDIS_CLUSTER: '127.0.0.1:7000,h:x' }, 'redis.cluster.1'],
    ['a URL of another scheme', { ROOMCAST_REDIS_URL: 'http://127.0.0.1:6379' }, 'redis.url'],
  ])('exits 78 for %s', async (_what, env, field) => {
    await expectConfigExit(env, field);
  });

  it('accepts each mode alone, with the Sentinel master name and IPv6 seeds', async () => {
    for (const env of [
      { ROOMCAST_REDIS_URL: 'rediss://127.0.0.1:6380' },
      { ROOMCAST_REDIS_SENTINELS: '10.0.0.1:26379, 10.0.0.2:26379', ROOMCAST_REDIS_SENTINEL_MASTER: 'main' },
      { ROOMCAST_REDIS_CLUSTER: '[::1]:7000,redis-1.internal:7001', ROOMCAST_REDIS_TLS: 'true' },
    ]) {
      const r = await runCli(['check-config'], { ...KEYS, ...env });
      expect(r.code, r.stderr).toBe(0);
    }
  });
});
