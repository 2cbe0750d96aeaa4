import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';
import { configError, configFile, KEYS } from '../helpers/config.js';
import { tempFile } from '../helpers/tmp.js';

const ns = (value: Record<string, unknown>) => ({ namespaces: { '/': value } });

describe('config: a bad value names its field', () => {
  it.each<[string, Record<string, unknown>]>([
    ['host', { host: '' }],
    ['host', { host: 5 }],
    ['port', { port: -1 }],
    ['port', { port: 70_000 }],
    ['port', { port: '3000' }],
    ['port', { port: 1.5 }],
    ['logLevel', { logLevel: 'loud' }],
    ['allowedOrigins', { allowedOrigins: 'https://a' }],
    ['allowedOrigins.0', { allowedOrigins: [''] }],
    ['shutdownGraceMs', { shutdownGraceMs: -1 }],
    ['shutdownGraceMs', { shutdownGraceMs: null }],
    ['tokenExpiryLeadMs', { tokenExpiryLeadMs: 1.5 }],
    ['demo', { demo: 'yes' }],
    ['redis', { redis: 'redis://x' }],
    ['redis.url', { redis: { url: 'http://x' } }],
    ['redis.mode', { redis: { mode: 'other' } }],
    ['redis.keyPrefix', { redis: { keyPrefix: '' } }],
    ['redis.presenceTtlMs', { redis: { presenceTtlMs: 10 } }],
    ['redis.heartbeatMs', { redis: { heartbeatMs: 5 } }],
    ['redis.requestTimeoutMs', { redis: { requestTimeoutMs: 50 } }],
    ['redis.heartbeatMs', { redis: { heartbeatMs: 8000, presenceTtlMs: 15000 } }],
    ['redis.sentinels', { redis: { sentinels: 'a:1' } }],
    ['redis.sentinels', { redis: { sentinels: [] } }],
    ['redis.sentinels.0', { redis: { sentinels: ['no-port'] } }],
    ['redis.sentinels.1', { redis: { sentinels: ['a:26379', 'b:0'] } }],
    ['redis.sentinels.0', { redis: { sentinels: ['a:70000'] } }],
    ['redis.sentinelMaster', { redis: { sentinelMaster: '' } }],
    ['redis.sentinelPassword', { redis: { sentinelPassword: 5 } }],
    ['redis.cluster.0', { redis: { cluster: ['host:port'] } }],
    ['redis.cluster', { redis: { cluster: {} } }],
    ['redis.password', { redis: { password: '' } }],
    ['redis.tls', { redis: { tls: 'yes' } }],
    ['redis.failoverCheck', { redis: { url: 'redis://h:6379', failoverCheck: 'yes' } }],
    ['limits', { limits: 5 }],
    ['limits.maxConnections', { limits: { maxConnections: 0 } }],
    ['limits.maxConnections', { limits: { maxConnections: 1.5 } }],
    ['limits.maxConnections', { limits: { maxConnections: '100' } }],
    ['limits.sendQueueBytes', { limits: { sendQueueBytes: 1023 } }],
    ['limits.sendQueueBytes', { limits: { sendQueueBytes: null } }],
    ['limits.requestTimeoutMs', { limits: { requestTimeoutMs: 50 } }],
    ['limits.requestTimeoutMs', { limits: { requestTimeoutMs: '30s' } }],
    ['metrics.token', { metrics: { token: 'short' } }],
    ['metrics.token', { metrics: { token: 1234 } }],
    ['metrics.port', { metrics: { port: 70_000 } }],
    ['metrics.port', { metrics: { port: -1 } }],
    ['metrics.port', { metrics: { port: '9100' } }],
    ['metrics.port', { port: 3000, metrics: { port: 3000 } }],
    ['api.bodyLimitBytes', { api: { bodyLimitBytes: 0 } }],
    ['api.maxRoomsPerPublish', { api: { maxRoomsPerPublish: 0 } }],
    ['api.maxBatchMessages', { api: { maxBatchMessages: 'x' } }],
    ['api.idempotencyWindowMs', { api: { idempotencyWindowMs: -5 } }],
    ['api.rateLimitPerSecond', { api: { rateLimitPerSecond: 0 } }],
    ['api.rateLimitPerSecond', { api: { rateLimitPerSecond: 10_000_001 } }],
    ['sse.heartbeatMs', { sse: { heartbeatMs: 10 } }],
    ['sse.maxStreamsPerUser', { sse: { maxStreamsPerUser: 0 } }],
    ['sse.maxRoomsPerStream', { sse: { maxRoomsPerStream: 5000 } }],
    ['namespaces', { namespaces: [] }],
    ['namespaces', { namespaces: { chat: {} } }],
    ['namespaces./.jwt.secrets', ns({ jwt: { secrets: 'x' } })],
    ['namespaces./.jwt.secrets.0', ns({ jwt: { secrets: [''] } })],
    ['namespaces./.jwt', ns({ jwt: null })],
    ['namespaces./', { namespaces: { '/': [] } }],
    ['namespaces./.jwt.publicKeys.0', ns({ jwt: { publicKeys: ['not a pem'] } })],
    ['namespaces./.jwt.algorithms.0', ns({ jwt: { algorithms: ['none'] } })],
    ['namespaces./.jwt.algorithms', ns({ jwt: { algorithms: [] } })],
    ['namespaces./.jwt.issuer', ns({ jwt: { issuer: '' } })],
    ['namespaces./.jwt.audience', ns({ jwt: { audience: 5 } })],
    ['namespaces./.jwt.requireExp', ns({ jwt: { requireExp: 'no' } })],
    ['namespaces./.jwt.clockToleranceSec', ns({ jwt: { clockToleranceSec: 1000 } })],
    ['namespaces./.apiKeys.0', ns({ apiKeys: ['short'] })],
    ['namespaces./.rules.subscribe.0', ns({ rules: { subscribe: ['chat lobby'] } })],
    ['namespaces./.rules.publish', ns({ rules: { publish: 'chat:*' } })],
    ['namespaces./.limits.roomsPerConnection', ns({ limits: { roomsPerConnection: 0 } })],
    ['namespaces./.limits.payloadBytes', ns({ limits: { payloadBytes: 0 } })],
    ['namespaces./.limits.roomNameLength', ns({ limits: { roomNameLength: 201 } })],
    ['namespaces./.limits.eventsPerSecond', ns({ limits: { eventsPerSecond: 0 } })],
    ['namespaces./.limits.historyLimit', ns({ limits: { historyLimit: -1 } })],
    ['namespaces./.limits.connectionsPerUser', ns({ limits: { connectionsPerUser: 0 } })],
    ['namespaces./.limits.connectionsPerUser', ns({ limits: { connectionsPerUser: 'many' } })],
    [
      'namespaces./chat.limits.connectionsPerUser',
      { namespaces: { '/chat': { limits: { connectionsPerUser: 2.5 } } } },
    ],
    ['namespaces./.history.0.size', ns({ history: [{ pattern: '*', size: -1, ttlMs: 0 }] })],
    ['namespaces./.history.0.ttlMs', ns({ history: [{ pattern: '*', size: 1 }] })],
    ['namespaces./.history.0.pattern', ns({ history: [{ pattern: 'a b', size: 1, ttlMs: 0 }] })],
    ['namespaces./.presence', ns({ presence: '*' })],
    ['namespaces./chat.jwt.secrets.0', { namespaces: { '/chat': { jwt: { secrets: [7] } } } }],
  ])('%s', (field, file) => {
    expect(configError(file).message).toContain(field);
  });

  it('a namespace name in the grammar is a namespace', () => {
    for (const name of ['/chat', '/tenant-1/chat', '/a.b', '/..x', `/${'x'.repeat(100)}`]) {
      const config = loadConfig({ ...KEYS, ROOMCAST_CONFIG: configFile({ namespaces: { [name]: {} } }) });
      expect(config.namespaces[name]).toBeDefined();
    }
  });

  it('a namespace name outside the grammar says what a name is', () => {
    // Empty, "." and ".." segments: a URL parser reads `/a/../b` as `/b`, so no client reaches them.
    for (const name of [
      'chat',
      '/a b',
      `/${'x'.repeat(101)}`,
      '//',
      '/a//b',
      '/a/',
      '/.',
      '/a/../b',
      '/..',
    ]) {
      const err = configError({ namespaces: { [name]: {} } });
      expect(err.field).toBe(`config namespaces.${name}`);
      expect(err.message).toContain(
        'a namespace name is "/" followed by up to 100 letters, digits and _ - / .',
      );
    }
  });

  it.each<[string, Record<string, unknown>]>([
    ['foo', { foo: 1 }],
    ['bar', { redis: { bar: 1 } }],
    ['baz', ns({ baz: 1 })],
    ['secret', ns({ jwt: { secret: 'singular' } })],
    ['other', ns({ rules: { other: [] } })],
    ['maxConnection', { limits: { maxConnection: 1 } }],
    ['path', { metrics: { path: '/m' } }],
    ['sentinel', { redis: { sentinel: ['a:1'] } }],
  ])('an unknown field (%s) is an error', (field, file) => {
    expect(configError(file).message).toContain(field);
  });

  it.each<[string, NodeJS.ProcessEnv]>([
    ['PORT', { PORT: 'abc' }],
    ['PORT', { PORT: '' }],
    ['PORT', { PORT: '-1' }],
    ['port', { PORT: '99999' }],
    ['host', { HOST: '' }],
    ['logLevel', { ROOMCAST_LOG_LEVEL: 'loud' }],
    ['redis.url', { ROOMCAST_REDIS_URL: 'http://127.0.0.1:6379' }],
    ['jwt.algorithms', { ROOMCAST_JWT_ALGORITHMS: 'FOO' }],
    ['ROOMCAST_JWT_ALGORITHMS (config namespaces./.jwt.algorithms)', { ROOMCAST_JWT_ALGORITHMS: 'RS256' }],
    [
      'ROOMCAST_JWT_PUBLIC_KEY (config namespaces./.jwt.publicKeys.0)',
      { ROOMCAST_JWT_PUBLIC_KEY: 'garbage' },
    ],
    ['apiKeys', { ROOMCAST_API_KEYS: 'short' }],
    ['ROOMCAST_METRICS_PORT', { ROOMCAST_METRICS_PORT: 'x' }],
    ['ROOMCAST_METRICS_PORT (config metrics.port)', { ROOMCAST_METRICS_PORT: '99999' }],
    ['ROOMCAST_METRICS_TOKEN (config metrics.token)', { ROOMCAST_METRICS_TOKEN: 'short' }],
    ['ROOMCAST_REDIS_SENTINELS (config redis.sentinels.1)', { ROOMCAST_REDIS_SENTINELS: 'a:26379,b' }],
    ['ROOMCAST_REDIS_CLUSTER (config redis.cluster.0)', { ROOMCAST_REDIS_CLUSTER: 'a:b' }],
    ['ROOMCAST_REDIS_TLS', { ROOMCAST_REDIS_TLS: 'maybe' }],
    [
      'ROOMCAST_REDIS_FAILOVER_CHECK',
      { ROOMCAST_REDIS_URL: 'redis://h:6379', ROOMCAST_REDIS_FAILOVER_CHECK: 'on' },
    ],
    ['ROOMCAST_REDIS_URL (config redis.url)', { ROOMCAST_REDIS_URL: 'http://127.0.0.1:6379' }],
  ])('env %s names the field', (field, env) => {
    expect(configError(undefined, env).message).toContain(field);
  });

  it('names ROOMCAST_API_KEYS and the minimum length for a short key from env', () => {
    const err = configError(undefined, { ROOMCAST_API_KEYS: 'k1' });
    expect(err.field).toBe('ROOMCAST_API_KEYS (config namespaces./.apiKeys.0)');
    expect(err.message).toMatch(/at least 8 characters/);
  });

  it('says what is wrong with RS256 and no public key', () => {
    expect(configError(undefined, { ROOMCAST_JWT_ALGORITHMS: 'RS256' }).message).toMatch(
      /RS256 needs a public key/,
    );
  });
});

describe('config: the ROOMCAST_CONFIG file', () => {
  it('says what is wrong with a file that is not JSON on one line, though the parser quotes its line breaks', () => {
    for (const text of ['not json\n', '{"port": 1,\n\n}', '{\n"a"\n']) {
      let err: unknown;
      try {
        loadConfig({ ...KEYS, ROOMCAST_CONFIG: tempFile('bad.json', text) });
      } catch (e) {
        err = e;
      }
      expect(err, text).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).message, text).not.toMatch(/[\r\n]/);
      expect((err as ConfigError).message, text).toMatch(/^ROOMCAST_CONFIG: /);
    }
  });

  it('names ROOMCAST_CONFIG when the file is missing', () => {
    let err: unknown;
    try {
      loadConfig({ ...KEYS, ROOMCAST_CONFIG: '/nonexistent/roomcast.json' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).field).toBe('ROOMCAST_CONFIG');
    expect((err as ConfigError).message).toContain('ENOENT');
  });

  it.each([
    ['bad JSON', '{ "port": '],
    ['an array', '[1, 2]'],
    ['a string', '"config"'],
    ['null', 'null'],
    ['a number', '42'],
    ['empty', ''],
  ])('names ROOMCAST_CONFIG when the file holds %s', (_what, text) => {
    const err = configError(text);
    expect(err.field).toBe('ROOMCAST_CONFIG');
  });
});
