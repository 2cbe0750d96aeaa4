import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { configError, configFile, KEYS } from '../helpers/config.js';

const echo = (value: unknown) => ({ namespaces: { '/': { echo: value } } });

describe('config: namespaces.<ns>.echo', () => {
  it.each<[string, Record<string, unknown>]>([
    ['namespaces./.echo', echo('yes')],
    ['namespaces./.echo.authHost', echo({ authHost: 'localhost' })],
    ['namespaces./.echo.authHost', echo({ authHost: 'http://app/broadcasting/auth' })],
    ['namespaces./.echo.authEndpoint', echo({ authEndpoint: 'broadcasting/auth' })],
    ['namespaces./.echo.authTimeoutMs', echo({ authTimeoutMs: 10 })],
    ['namespaces./.echo.maxConcurrentAuth', echo({ maxConcurrentAuth: 0 })],
    ['namespaces./.echo.redisUrl', echo({ redisUrl: 'localhost:6379' })],
    ['namespaces./.echo.redisPrefix', echo({ redisPrefix: 5 })],
    ['namespaces./.echo.subscribeRedis', echo({ subscribeRedis: 'no' })],
    ['namespaces./.echo.apps.0.key', echo({ apps: [{ appId: 'a', key: 'short' }] })],
    ['namespaces./.echo.apps.0.appId', echo({ apps: [{ key: '0123456789' }] })],
  ])('%s', (field, file) => {
    expect(configError(file).message).toContain(field);
  });

  it('an appId listed twice, in one namespace or two, is an error naming both places', () => {
    const one = { appId: 'app', key: 'key-one-0123' };
    const two = { appId: 'app', key: 'key-two-0123' };
    const same = configError(echo({ apps: [one, two] }));
    expect(same.field).toBe('config namespaces./.echo.apps.1.appId');
    expect(same.message).toContain('"app" is the appId of namespaces./.echo.apps.0 already');
    const across = configError({
      namespaces: { '/': { echo: { apps: [one] } }, '/b': { echo: { apps: [two] } } },
    });
    expect(across.field).toBe('config namespaces./b.echo.apps.0.appId');
  });

  it('an unknown echo field is an error that names it', () => {
    expect(configError(echo({ authhost: 'http://x' })).message).toMatch(/namespaces\.\/\.echo.*authhost/);
  });

  it("has defaults: Laravel's auth route, its default Redis prefix, a 5 s timeout", () => {
    const cfg = loadConfig({ ...KEYS, ROOMCAST_CONFIG: configFile(echo({})) });
    expect(cfg.namespaces['/']!.echo).toEqual({
      authHost: 'http://localhost',
      authEndpoint: '/broadcasting/auth',
      authTimeoutMs: 5000,
      maxConcurrentAuth: 64,
      redisUrl: null,
      redisPrefix: 'laravel_database_',
      subscribeRedis: true,
      apps: [],
    });
    expect(loadConfig(KEYS).namespaces['/']!.echo).toBeNull();
  });
});
