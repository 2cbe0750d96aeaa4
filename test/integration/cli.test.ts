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
import { assertBuilt, runCli } from '../helpers/process.js';
import { tempFile } from '../helpers/tmp.js';

const KEYS = { ROOMCAST_JWT_SECRET: SECRET, ROOMCAST_API_KEYS: API_KEY };
let b: RunningBroker;
beforeAll(async () => {
  assertBuilt();
  b = await startBroker();
});
afterEach(() => closeClients());
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
});

describe('roomcast check-config and config errors', () => {
  it('check-config summarises a good config', async () => {
    const cfg = file(
      JSON.stringify({ namespaces: { '/admin': { jwt: { secrets: ['admin-secret-0123456789abcdef'] } } } }),
    );
    const r = await runCli(['check-config'], { ...KEYS, ROOMCAST_CONFIG: cfg, NODE_ENV: 'production' });
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
  ])('exits 78 with one line for %s', async (_what, env, field) => {
    await expectConfigExit({ ...KEYS, ...env }, field);
  });

  it('serve exits 78 naming PORT when the port is taken', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const env = { ...KEYS, NODE_ENV: 'production', HOST: '127.0.0.1', PORT: String(port) };
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
