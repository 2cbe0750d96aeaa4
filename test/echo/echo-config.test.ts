import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import { createBroker } from '../../src/broker/create-broker.js';
import { loadConfig } from '../../src/config.js';
import { fromEchoServerConfig } from '../../src/echo/migrate.js';
import { testConfig } from '../helpers/broker.js';
import { assertBuilt, runCli } from '../helpers/process.js';
import { tempFile } from '../helpers/tmp.js';

/** A laravel-echo-server.json as its README shows it (`laravel-echo-server init` output). */
const README_CONFIG = {
  authHost: 'http://localhost',
  authEndpoint: '/broadcasting/auth',
  clients: [{ appId: 'a1b2c3d4e5f60718', key: '0123456789abcdef0123456789abcdef' }],
  database: 'redis',
  databaseConfig: {
    redis: { host: 'redis', port: '6379', password: 's3cret', keyPrefix: 'laravel_database_' },
    sqlite: { databasePath: '/database/laravel-echo-server.sqlite' },
    publishPresence: true,
  },
  devMode: true,
  host: null,
  port: '6001',
  protocol: 'https',
  socketio: { pingTimeout: 60000 },
  secureOptions: 67108864,
  sslCertPath: '/etc/ssl/echo.crt',
  sslKeyPath: '/etc/ssl/echo.key',
  sslCertChainPath: '',
  sslPassphrase: '',
  subscribers: { http: true, redis: true },
  apiOriginAllow: {
    allowCors: true,
    // With the default port, which browsers leave out of the Origin they send.
    allowOrigin: 'https://app.example.com:443',
    allowMethods: 'GET, POST',
    allowHeaders:
      'Origin, Content-Type, X-Auth-Token, X-Requested-With, Accept, Authorization, X-CSRF-TOKEN, X-Socket-Id',
  },
};

beforeAll(() => assertBuilt());

describe('roomcast echo-config', () => {
  it("prints the roomcast config for laravel-echo-server's README example, names what it cannot carry over, and the result loads", async () => {
    const file = tempFile('laravel-echo-server.json', JSON.stringify(README_CONFIG, null, '\t'));
    const res = await runCli(['echo-config', file], {});
    expect(res.code).toBe(0);
    const config = JSON.parse(res.stdout) as Record<string, unknown>;
    expect(config).toEqual({
      host: '0.0.0.0',
      port: 6001,
      logLevel: 'debug',
      allowedOrigins: ['https://app.example.com'],
      namespaces: {
        '/': {
          echo: {
            authHost: 'http://localhost',
            authEndpoint: '/broadcasting/auth',
            redisPrefix: 'laravel_database_',
            subscribeRedis: true,
            redisUrl: 'redis://:s3cret@redis:6379/0',
            apps: [{ appId: 'a1b2c3d4e5f60718', key: '0123456789abcdef0123456789abcdef' }],
          },
        },
      },
    });
    for (const setting of ['publishPresence', 'sslCertPath', 'secureOptions', 'socketio', 'allowMethods'])
      expect(res.stderr).toContain(setting);
    expect(res.stderr.split('\n').filter((l) => l.startsWith('not carried over: '))).toHaveLength(6);
    expect(res.stderr).toContain('applies to Socket.IO connections too');
    expect(res.stdout.endsWith('}\n')).toBe(true);

    const loaded = loadConfig({
      ROOMCAST_CONFIG: tempFile('roomcast.json', res.stdout),
      NODE_ENV: 'production',
    });
    expect(loaded.namespaces['/']!.echo).toMatchObject({
      authTimeoutMs: 5000,
      redisPrefix: 'laravel_database_',
    });
  });

  it('notes a short app key, several auth hosts, sqlite and unknown keys; refuses a file that is not JSON', async () => {
    const { config, notes } = fromEchoServerConfig({
      authHost: ['https://a.example.com', 'https://b.example.com'],
      clients: [{ appId: 'APP_ID', key: 'KEY' }],
      database: 'sqlite',
      databaseConfig: { redis: {} },
      subscribers: { http: true, redis: false },
      port: '6001/',
      mystery: 1,
    });
    expect(config).toMatchObject({
      port: 6001,
      namespaces: {
        '/': { echo: { authHost: 'https://a.example.com', subscribeRedis: false, redisPrefix: '' } },
      },
    });
    expect(notes.join('\n')).toMatch(/mystery/);
    expect(notes.join('\n')).toMatch(/authHost: 2 hosts/);
    expect(notes.join('\n')).toMatch(/clients\.0\.key/);
    expect(notes.join('\n')).toMatch(/sqlite/);
    const bad = await runCli(['echo-config', tempFile('les.json', '{ nope')], {});
    expect(bad.code).toBe(64);
    expect(bad.stderr).toContain('cannot read');
  });
});

describe('an Echo namespace without a Redis URL', () => {
  /** The warnings a broker logs while it starts with `namespaces['/'].echo = echo`. */
  async function startupWarnings(echo: Record<string, unknown>): Promise<string[]> {
    const lines: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) });
    const broker = await createBroker(testConfig({ namespaces: { '/': { echo } } }), { logger });
    try {
      await broker.listen();
    } finally {
      await broker.close();
    }
    return lines
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level === 40)
      .map((l) => l.msg);
  }

  it("warns at startup that Laravel's redis broadcaster will not reach it, unless subscribeRedis is off", async () => {
    const warned = await startupWarnings({});
    expect(warned.filter((m) => m.startsWith('echo.subscribeRedis is on but no Redis URL'))).toHaveLength(1);
    expect(await startupWarnings({ subscribeRedis: false })).not.toContainEqual(
      expect.stringContaining('echo.subscribeRedis'),
    );
  });
});
