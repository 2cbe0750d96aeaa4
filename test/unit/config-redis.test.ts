import { describe, expect, it } from 'vitest';
import { clustered, loadConfig } from '../../src/config.js';
import { parseHostPort } from '../../src/config-redis.js';
import { configError, KEYS } from '../helpers/config.js';
import { tempFile } from '../helpers/tmp.js';

const load = (env: NodeJS.ProcessEnv, file?: unknown) =>
  loadConfig({
    ...KEYS,
    ...env,
    ...(file === undefined ? {} : { ROOMCAST_CONFIG: tempFile('redis.json', JSON.stringify(file)) }),
  });

describe('config: Redis modes', () => {
  it('is one node in memory with none set', () => {
    const cfg = load({});
    expect(cfg.redis.target).toBeNull();
    expect(clustered(cfg)).toBe(false);
  });

  it('ROOMCAST_REDIS_URL: one primary; rediss:// is TLS; redis.url stays as given', () => {
    const cfg = load({ ROOMCAST_REDIS_URL: 'redis://127.0.0.1:6379/0' });
    expect(cfg.redis.url).toBe('redis://127.0.0.1:6379/0');
    expect(cfg.redis.target).toEqual({ kind: 'url', url: 'redis://127.0.0.1:6379/0', tls: false });
    expect(clustered(cfg)).toBe(true);
    expect(load({ ROOMCAST_REDIS_URL: 'rediss://h:6380' }).redis.target).toMatchObject({ tls: true });
  });

  it('ROOMCAST_REDIS_SENTINELS with master (default mymaster), passwords and TLS', () => {
    const plain = load({ ROOMCAST_REDIS_SENTINELS: '10.0.0.1:26379, 10.0.0.2:26379' });
    expect(plain.redis.target).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: '10.0.0.1', port: 26379 },
        { host: '10.0.0.2', port: 26379 },
      ],
      name: 'mymaster',
      sentinelPassword: null,
      password: null,
      tls: false,
    });
    const full = load({
      ROOMCAST_REDIS_SENTINELS: 's1:26379,[fd00::3]:26380',
      ROOMCAST_REDIS_SENTINEL_MASTER: 'rc',
      ROOMCAST_REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
      ROOMCAST_REDIS_PASSWORD: 'data-pw',
      ROOMCAST_REDIS_TLS: 'true',
    });
    expect(full.redis.target).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 'fd00::3', port: 26380 },
      ],
      name: 'rc',
      sentinelPassword: 'sentinel-pw',
      password: 'data-pw',
      tls: true,
    });
    expect(clustered(full)).toBe(true);
  });

  it('ROOMCAST_REDIS_CLUSTER: seed nodes', () => {
    const cfg = load({ ROOMCAST_REDIS_CLUSTER: 'a:7000,b:7001', ROOMCAST_REDIS_PASSWORD: 'pw' });
    expect(cfg.redis.target).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
      password: 'pw',
      tls: false,
    });
  });

  it('reads the same from the config file', () => {
    const cfg = load({}, { redis: { cluster: ['c1:7000'], tls: true } });
    expect(cfg.redis.target).toEqual({
      kind: 'cluster',
      nodes: [{ host: 'c1', port: 7000 }],
      password: null,
      tls: true,
    });
    const s = load({}, { redis: { sentinels: ['s:26379'], sentinelMaster: 'm1' } });
    expect(s.redis.target).toMatchObject({ kind: 'sentinel', name: 'm1' });
  });

  it.each<[string, NodeJS.ProcessEnv]>([
    ['url and sentinels', { ROOMCAST_REDIS_URL: 'redis://h:6379', ROOMCAST_REDIS_SENTINELS: 's:26379' }],
    ['url and cluster', { ROOMCAST_REDIS_URL: 'redis://h:6379', ROOMCAST_REDIS_CLUSTER: 'c:7000' }],
    ['sentinels and cluster', { ROOMCAST_REDIS_SENTINELS: 's:26379', ROOMCAST_REDIS_CLUSTER: 'c:7000' }],
  ])('refuses more than one mode (%s), naming the fields and env vars', (_what, env) => {
    const err = configError(undefined, env);
    expect(err.field).toBe('config redis');
    expect(err.message).toContain('set only one of');
    expect(err.message).toContain('ROOMCAST_REDIS_SENTINELS');
    for (const [name, field] of [
      ['ROOMCAST_REDIS_URL', 'redis.url'],
      ['ROOMCAST_REDIS_SENTINELS', 'redis.sentinels'],
      ['ROOMCAST_REDIS_CLUSTER', 'redis.cluster'],
    ]) {
      if (env[name!]) expect(err.message).toMatch(new RegExp(`got .*${field!.replace('.', '\\.')}`));
    }
  });

  it('refuses a mode from env over another one from the file', () => {
    const err = configError({ redis: { url: 'redis://h:6379' } }, { ROOMCAST_REDIS_CLUSTER: 'c:7000' });
    expect(err.message).toMatch(/got redis\.url and redis\.cluster/);
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['a password beside a URL', { url: 'redis://h:6379', password: 'pw' }, 'redis.password'],
    ['tls with a redis:// URL', { url: 'redis://h:6379', tls: true }, 'redis.tls'],
    [
      'a sentinel password without sentinels',
      { cluster: ['c:7000'], sentinelPassword: 'pw' },
      'redis.sentinelPassword',
    ],
    ['a password without a mode', { password: 'pw' }, 'redis.password'],
    ['tls without a mode', { tls: true }, 'redis.tls'],
    ['a Sentinel master name without sentinels', { sentinelMaster: 'm1' }, 'redis.sentinelMaster'],
    [
      'a Sentinel master name beside a URL',
      { url: 'redis://h:6379', sentinelMaster: 'm1' },
      'redis.sentinelMaster',
    ],
    ['classic pub/sub on a Redis Cluster', { cluster: ['c:7000'], mode: 'classic' }, 'redis.mode'],
    [
      'the failover check with Sentinel, where it is always on',
      { sentinels: ['s:26379'], failoverCheck: true },
      'redis.failoverCheck',
    ],
    [
      'the failover check on a Redis Cluster',
      { cluster: ['c:7000'], failoverCheck: true },
      'redis.failoverCheck',
    ],
    ['the failover check without a mode', { failoverCheck: true }, 'redis.failoverCheck'],
  ])('refuses %s, which nothing would use', (_what, redis, field) => {
    expect(configError({ redis }).field).toBe(`config ${field}`);
  });

  it('names the env var of a Redis field set there that nothing would use', () => {
    expect(configError(undefined, { ROOMCAST_REDIS_TLS: 'true' }).field).toBe(
      'ROOMCAST_REDIS_TLS (config redis.tls)',
    );
    const master = configError(undefined, { ROOMCAST_REDIS_SENTINEL_MASTER: 'rc' });
    expect(master.field).toBe('ROOMCAST_REDIS_SENTINEL_MASTER (config redis.sentinelMaster)');
    expect(master.message).toContain('needs redis.sentinels');
    // tls off, and classic on one primary or Sentinel, are fine.
    expect(load({ ROOMCAST_REDIS_TLS: 'false' }).redis.target).toBeNull();
    expect(load({}, { redis: { url: 'redis://h:6379', mode: 'classic' } }).redis.mode).toBe('classic');
  });

  it('parses host:port entries strictly', () => {
    expect(parseHostPort('redis-1.internal:6379')).toEqual({ host: 'redis-1.internal', port: 6379 });
    expect(parseHostPort('[::1]:26379')).toEqual({ host: '::1', port: 26379 });
    for (const bad of ['h', 'h:', ':6379', 'h:0', 'h:65536', 'h:12a', 'a b:1', '::1:6379', 'redis://h:6379'])
      expect(parseHostPort(bad), bad).toBeNull();
  });
});
