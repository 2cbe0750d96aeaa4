import { generateKeyPairSync } from 'node:crypto';
import { type AddressInfo, createServer } from 'node:net';
import jwt from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  API_KEY,
  closeClients,
  connect,
  type RunningBroker,
  request,
  SECRET,
  startBroker,
} from '../helpers/broker.js';
import { assertBuilt, runCli, startServer, stopServers } from '../helpers/process.js';
import { tempFile } from '../helpers/tmp.js';

const KEYS = { ROOMCAST_JWT_SECRET: SECRET, ROOMCAST_API_KEYS: API_KEY };
/** What production needs besides the keys. */
const PROD = { ...KEYS, NODE_ENV: 'production', ROOMCAST_ALLOWED_ORIGINS: 'https://app.example' };
let b: RunningBroker;
beforeAll(async () => {
  assertBuilt();
  b = await startBroker();
});
afterEach(() => {
  closeClients();
  stopServers();
});
afterAll(() => b.close());

const file = (content: string) => tempFile('cli.json', content);

/** A config failure: exit 78 and exactly one line on stderr that names `field`. */
async function expectConfigExit(
  env: NodeJS.ProcessEnv,
  field: string,
  args = ['check-config'],
): Promise<void> {
  const r = await runCli(args, env);
  expect(r.code, r.stderr).toBe(78);
  const lines = r.stderr.trim().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toContain(field);
  expect(r.stdout).toBe('');
}

describe('roomcast token', () => {
  it('mints a token the broker accepts, with the given rights', async () => {
    const r = await runCli(
      [
        'token',
        '--sub',
        'alice',
        '--subscribe',
        'chat:*',
        '--publish',
        'chat:1',
        '--ttl',
        '1h',
        '--info',
        '{"name":"Alice"}',
      ],
      KEYS,
    );
    expect(r.code, r.stderr).toBe(0);
    const tok = r.stdout.trim();
    const claims = jwt.verify(tok, SECRET) as jwt.JwtPayload;
    expect(claims).toMatchObject({ sub: 'alice', info: { name: 'Alice' } });
    expect(claims.exp! - claims.iat!).toBe(3600);
    const c = await connect(b.url, tok);
    expect(await request(c, 'join', { room: 'chat:9' })).toMatchObject({ ok: true });
    expect(await request(c, 'publish', { room: 'chat:1', event: 'e', data: 1 })).toMatchObject({ ok: true });
    expect(await request(c, 'publish', { room: 'chat:2', event: 'e', data: 1 })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
  });

  it('signs with a private key for an RS256 namespace', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const keyFile = file(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
    const pub = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const env = {
      ROOMCAST_JWT_PUBLIC_KEY: pub,
      ROOMCAST_JWT_ALGORITHMS: 'RS256',
      ROOMCAST_API_KEYS: API_KEY,
    };
    const r = await runCli(['token', '--sub', 'bob', '--private-key', keyFile], env);
    expect(r.code, r.stderr).toBe(0);
    expect(jwt.verify(r.stdout.trim(), pub, { algorithms: ['RS256'] })).toMatchObject({ sub: 'bob' });
    // Without the private key there is nothing to sign with: a usage error, not a crash.
    const noKey = await runCli(['token', '--sub', 'bob'], env);
    expect(noKey.code).toBe(64);
    expect(noKey.stderr).not.toContain('    at ');
  });

  it.each([
    ['no --sub', ['token']],
    ['a bad --ttl', ['token', '--sub', 'a', '--ttl', 'soon']],
    ['bad --info JSON', ['token', '--sub', 'a', '--info', '{']],
    ['an unknown option', ['token', '--sub', 'a', '--bogus']],
    ['an unknown namespace', ['token', '--sub', 'a', '--namespace', '/nope']],
    ['an unknown command', ['frobnicate']],
  ])('exits 64 for %s', async (_what, args) => {
    const r = await runCli(args, KEYS);
    expect(r.code, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/usage: roomcast/);
  });

  it('prints usage for help', async () => {
    const r = await runCli(['help'], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/usage: roomcast/);
  });

  it('exits 78 with no key to sign with, saying how to give one, and prints no token', async () => {
    const r = await runCli(['token', '--sub', 'alice'], { ROOMCAST_API_KEYS: API_KEY });
    expect(r.code, r.stderr).toBe(78);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('ROOMCAST_JWT_SECRET');
    expect(lines[0]).toContain('--private-key');
    // A keyless extra namespace in the file: the field to set there.
    const cfg = file(JSON.stringify({ namespaces: { '/chat': {} } }));
    const chat = await runCli(['token', '--sub', 'a', '--namespace', '/chat'], {
      ...KEYS,
      ROOMCAST_CONFIG: cfg,
    });
    expect(chat.code, chat.stderr).toBe(78);
    expect(chat.stderr).toContain('namespaces./chat.jwt.secrets');
  });
});

describe('--help', () => {
  it.each([
    ['serve', /usage: roomcast serve\n\s+serve/],
    ['token', /usage: roomcast token\n\s+token --sub ID/],
    ['check-config', /usage: roomcast check-config\n\s+check-config/],
  ])('%s --help prints its usage and exits 0, whatever the config', async (command, usage) => {
    for (const flag of ['--help', '-h']) {
      // Even a broken config does not stop --help, and serve does not start.
      const r = await runCli([command, flag], { PORT: 'abc' });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(usage);
      expect(r.stderr).toBe('');
    }
  });

  it.each([['--help'], ['-h'], ['help']])('%s prints every command', async (flag) => {
    const r = await runCli([flag], {});
    expect(r.code).toBe(0);
    for (const command of ['serve', 'token', 'check-config', 'help'])
      expect(r.stdout).toContain(`  ${command} `);
  });

  it.each([['serve'], ['check-config']])('%s with a stray argument exits 64', async (command) => {
    const r = await runCli([command, 'extra'], KEYS);
    expect(r.code, r.stderr).toBe(64);
    expect(r.stderr).toMatch(/takes no arguments/);
  });
});

describe('roomcast check-config and config errors', () => {
  it('check-config summarises a good config', async () => {
    const cfg = file(
      JSON.stringify({
        namespaces: { '/admin': { jwt: { secrets: ['admin-secret-0123456789abcdef0123'] } } },
      }),
    );
    const r = await runCli(['check-config'], { ...PROD, ROOMCAST_CONFIG: cfg });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/config ok: 2 namespace\(s\) \[\/, \/admin\].*production/);
  });

  it.each<[string, NodeJS.ProcessEnv, string]>([
    ['a bad value in the file', { ROOMCAST_CONFIG: file('{"port": "x"}') }, 'port'],
    ['an unknown field', { ROOMCAST_CONFIG: file('{"prot": 1}') }, 'prot'],
    ['bad JSON', { ROOMCAST_CONFIG: file('{"port": ') }, 'ROOMCAST_CONFIG'],
    ['a file that is not an object', { ROOMCAST_CONFIG: file('[1]') }, 'ROOMCAST_CONFIG'],
    ['a missing file', { ROOMCAST_CONFIG: '/nonexistent/roomcast.json' }, 'ROOMCAST_CONFIG'],
    ['PORT=abc', { PORT: 'abc' }, 'PORT'],
    ['a bad algorithm list', { ROOMCAST_JWT_ALGORITHMS: 'none' }, 'algorithms'],
    ['RS256 without a public key', { ROOMCAST_JWT_ALGORITHMS: 'RS256' }, 'ROOMCAST_JWT_PUBLIC_KEY'],
    [
      'production without ROOMCAST_JWT_SECRET',
      { NODE_ENV: 'production', ROOMCAST_JWT_SECRET: '' },
      'ROOMCAST_JWT_SECRET',
    ],
    [
      'production without ROOMCAST_API_KEYS',
      { NODE_ENV: 'production', ROOMCAST_API_KEYS: '' },
      'ROOMCAST_API_KEYS',
    ],
    [
      'production without allowedOrigins',
      { ...PROD, ROOMCAST_ALLOWED_ORIGINS: '' },
      'ROOMCAST_ALLOWED_ORIGINS',
    ],
    [
      'production with a short secret',
      { ...PROD, ROOMCAST_JWT_SECRET: 'short-secret' },
      'ROOMCAST_JWT_SECRET',
    ],
    ['a short API key', { ROOMCAST_API_KEYS: 'k1' }, 'ROOMCAST_API_KEYS'],
    ['a bad origin', { ROOMCAST_ALLOWED_ORIGINS: 'https://app.example/' }, 'ROOMCAST_ALLOWED_ORIGINS'],
    [
      'two Redis modes',
      { ROOMCAST_REDIS_URL: 'redis://h:1', ROOMCAST_REDIS_CLUSTER: 'c:7000' },
      'redis.cluster',
    ],
    ['a malformed sentinel', { ROOMCAST_REDIS_SENTINELS: 'h:26379,h2' }, 'ROOMCAST_REDIS_SENTINELS'],
    ['a bad metrics port', { ROOMCAST_METRICS_PORT: '70000' }, 'ROOMCAST_METRICS_PORT'],
    ['a short metrics token', { ROOMCAST_METRICS_TOKEN: 'tiny' }, 'ROOMCAST_METRICS_TOKEN'],
    ['bad limits', { ROOMCAST_CONFIG: file('{"limits": {"sendQueueBytes": 10}}') }, 'limits.sendQueueBytes'],
    [
      'a heartbeat over half the presence TTL',
      { ROOMCAST_CONFIG: file('{"redis": {"heartbeatMs": 9000, "presenceTtlMs": 15000}}') },
      'redis.heartbeatMs',
    ],
  ])('exits 78 with one line for %s', async (_what, env, field) => {
    await expectConfigExit({ ...KEYS, ...env }, field);
  });

  it('says the minimum length of an API key, and which env var holds the short one', async () => {
    const r = await runCli(['check-config'], { ...KEYS, ROOMCAST_API_KEYS: 'k1' });
    expect(r.stderr).toMatch(/ROOMCAST_API_KEYS.*at least 8 characters/);
  });

  it.each<[string, NodeJS.ProcessEnv]>([
    // A Redis that is never reached: the rule must stop serve before it connects, as check-config does.
    [
      'the heartbeat/TTL rule',
      {
        ROOMCAST_REDIS_URL: 'redis://127.0.0.1:1/0',
        ROOMCAST_CONFIG: file('{"redis": {"heartbeatMs": 9000, "presenceTtlMs": 15000}}'),
      },
    ],
    ['allowedOrigins in production', { ...PROD, ROOMCAST_ALLOWED_ORIGINS: '' }],
    ['a short secret in production', { ...PROD, ROOMCAST_JWT_SECRET: 'short-secret' }],
    ['two Redis modes', { ROOMCAST_REDIS_URL: 'redis://h:1', ROOMCAST_REDIS_SENTINELS: 's:26379' }],
  ])('serve and check-config refuse %s with the same line', async (_what, env) => {
    const [check, serve] = await Promise.all([
      runCli(['check-config'], { ...KEYS, HOST: '127.0.0.1', PORT: '0', ...env }),
      runCli(['serve'], { ...KEYS, HOST: '127.0.0.1', PORT: '0', ...env }),
    ]);
    expect([check.code, serve.code], `${check.stderr}\n${serve.stderr}`).toEqual([78, 78]);
    expect(serve.stderr).toBe(check.stderr);
  });

  it('serve exits 78 naming PORT when the port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const env = { ...PROD, HOST: '127.0.0.1', PORT: String(port) };
      await expectConfigExit(env, 'PORT', ['serve']);
    } finally {
      taken.close();
    }
  });

  it('serve and token stop on a config error the same way', async () => {
    await expectConfigExit({ ...KEYS, PORT: 'abc' }, 'PORT', ['serve']);
    await expectConfigExit({ ...KEYS, PORT: 'abc' }, 'PORT', []);
    await expectConfigExit({ NODE_ENV: 'production', ROOMCAST_API_KEYS: API_KEY }, 'ROOMCAST_JWT_SECRET', [
      'token',
      '--sub',
      'a',
    ]);
  });
});

describe('roomcast serve with ROOMCAST_METRICS_PORT and ROOMCAST_METRICS_TOKEN', () => {
  it('serves /metrics on the metrics port with the token, logs where, and stops it on SIGTERM', async () => {
    const token = 'metrics-token-0123456789';
    const server = await startServer({ ...KEYS, ROOMCAST_METRICS_PORT: '0', ROOMCAST_METRICS_TOKEN: token });
    try {
      const line = server
        .output()
        .split('\n')
        .find((l) => l.includes('"roomcast listening"'));
      const metricsUrl = (JSON.parse(line!) as { metrics: string }).metrics;
      expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      expect(metricsUrl.startsWith(server.url)).toBe(false);
      expect((await fetch(metricsUrl)).status).toBe(401);
      expect((await fetch(metricsUrl, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect((await fetch(`${server.url}/metrics`)).status).toBe(404);
    } finally {
      server.child.kill('SIGTERM');
    }
    expect((await server.exited).code).toBe(0);
  });
});
