import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { configError, configFile } from '../helpers/config.js';

const SECRET = 'unit-secret-0123456789abcdef0123';
const API_KEYS = 'api-key-00001, api-key-00002';
const pem = (type: 'rsa' | 'ec') => {
  const { publicKey } =
    type === 'rsa'
      ? generateKeyPairSync('rsa', { modulusLength: 2048 })
      : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return publicKey.export({ type: 'spki', format: 'pem' }).toString();
};

const KEYS_FOR = (env: NodeJS.ProcessEnv) => ({ ...env, ROOMCAST_API_KEYS: API_KEYS });

describe('config: keys in production and development', () => {
  it('refuses production without a JWT key, naming the env var', () => {
    const err = configError(undefined, { NODE_ENV: 'production', ROOMCAST_JWT_SECRET: '' });
    expect(err.message).toContain('namespaces./.jwt');
    expect(err.message).toContain('ROOMCAST_JWT_SECRET');
  });

  it('refuses production without an API key', () => {
    const err = configError(undefined, { NODE_ENV: 'production', ROOMCAST_API_KEYS: '' });
    expect(err.message).toContain('apiKeys');
    expect(err.message).toContain('ROOMCAST_API_KEYS');
  });

  it('refuses production with a keyless extra namespace', () => {
    const err = configError({ namespaces: { '/chat': {} } }, { NODE_ENV: 'production' });
    expect(err.message).toContain('namespaces./chat.jwt');
  });

  it('runs production with keys and generates nothing', () => {
    const cfg = loadConfig({
      NODE_ENV: 'production',
      ROOMCAST_JWT_SECRET: SECRET,
      ROOMCAST_API_KEYS: API_KEYS,
      ROOMCAST_ALLOWED_ORIGINS: 'https://app.example',
    });
    expect(cfg.production).toBe(true);
    expect(cfg.generated).toEqual({ jwtSecretFor: [] });
    expect(cfg.namespaces['/']!.jwt).toMatchObject({
      secrets: [SECRET],
      algorithms: ['HS256', 'HS384', 'HS512'],
    });
    expect(cfg.namespaces['/']!.apiKeys).toEqual(['api-key-00001', 'api-key-00002']);
  });

  it('generates a secret and an API key in development', () => {
    const cfg = loadConfig({});
    expect(cfg.production).toBe(false);
    expect(cfg.generated.jwtSecret).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(cfg.generated.apiKey).toMatch(/^rc_/);
    expect(cfg.namespaces['/']!.jwt.secrets).toEqual([cfg.generated.jwtSecret]);
    expect(cfg.generated.jwtSecretFor).toEqual(['/']);
    expect(cfg.namespaces['/']!.apiKeys).toEqual([cfg.generated.apiKey]);
    expect(loadConfig({}).generated.jwtSecret).not.toBe(cfg.generated.jwtSecret);
  });

  it('infers algorithms from a PEM key, and reads \\n escapes from env', () => {
    const rsa = loadConfig({ ROOMCAST_JWT_PUBLIC_KEY: pem('rsa'), ROOMCAST_API_KEYS: API_KEYS });
    expect(rsa.namespaces['/']!.jwt.algorithms).toEqual(expect.arrayContaining(['RS256', 'PS256']));
    expect(rsa.namespaces['/']!.jwt.algorithms).not.toContain('HS256');
    expect(rsa.namespaces['/']!.jwt.secrets).toEqual([]);
    expect(rsa.generated.jwtSecret).toBeUndefined();
    const escaped = pem('ec').replace(/\n/g, '\\n');
    const ec = loadConfig({ ROOMCAST_JWT_PUBLIC_KEY: escaped, ROOMCAST_API_KEYS: API_KEYS });
    expect(ec.namespaces['/']!.jwt.algorithms).toEqual(['ES256']);
  });

  it('takes an explicit algorithm list, issuer and audience from env', () => {
    const cfg = loadConfig({
      ROOMCAST_JWT_SECRET: SECRET,
      ROOMCAST_JWT_ALGORITHMS: 'HS256, HS512',
      ROOMCAST_JWT_ISSUER: 'https://app',
      ROOMCAST_JWT_AUDIENCE: 'roomcast',
    });
    expect(cfg.namespaces['/']!.jwt).toMatchObject({
      algorithms: ['HS256', 'HS512'],
      issuer: 'https://app',
      audience: 'roomcast',
    });
  });

  it('refuses an HS secret under 32 bytes in production, naming ROOMCAST_JWT_SECRET when it came from there', () => {
    const prod = { NODE_ENV: 'production', ROOMCAST_ALLOWED_ORIGINS: '*' };
    const err = configError(undefined, { ...prod, ROOMCAST_JWT_SECRET: 'short' });
    expect(err.field).toBe('ROOMCAST_JWT_SECRET');
    expect(err.message).toMatch(/at least 32 bytes/);
    // 31 bytes is one short; 32 is enough (bytes, not characters: "é" is two).
    expect(configError(undefined, { ...prod, ROOMCAST_JWT_SECRET: 'x'.repeat(31) }).field).toBe(
      'ROOMCAST_JWT_SECRET',
    );
    expect(() => loadConfig({ ...KEYS_FOR(prod), ROOMCAST_JWT_SECRET: 'x'.repeat(32) })).not.toThrow();
    expect(() => loadConfig({ ...KEYS_FOR(prod), ROOMCAST_JWT_SECRET: 'é'.repeat(16) })).not.toThrow();
    // From the config file, the field is named.
    const file = {
      namespaces: { '/chat': { jwt: { secrets: ['0123456789abcdef0123456789abcdef', 'tiny'] } } },
    };
    expect(configError(file, prod).field).toBe('config namespaces./chat.jwt.secrets.1');
  });

  it('takes a short secret in development (tests and demos use short ones)', () => {
    expect(loadConfig({ ROOMCAST_JWT_SECRET: 'short' }).namespaces['/']!.jwt.secrets).toEqual(['short']);
  });

  it('refuses a public key no accepted algorithm verifies, naming its type and the env var', () => {
    const spki = (k: { publicKey: { export(o: object): string | Buffer } }) =>
      k.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const keys = {
      ed25519: spki(generateKeyPairSync('ed25519')),
      'ec (secp256k1)': spki(generateKeyPairSync('ec', { namedCurve: 'secp256k1' })),
      // What `openssl genpkey -algorithm RSA-PSS` makes: jsonwebtoken verifies nothing with it.
      'rsa-pss (no hash parameters)': spki(generateKeyPairSync('rsa-pss', { modulusLength: 2048 })),
    };
    for (const [kind, key] of Object.entries(keys)) {
      for (const env of [{}, { NODE_ENV: 'production', ROOMCAST_ALLOWED_ORIGINS: '*' }]) {
        const err = configError(undefined, { ...env, ROOMCAST_JWT_PUBLIC_KEY: key });
        expect(err.field).toBe('ROOMCAST_JWT_PUBLIC_KEY (config namespaces./.jwt.publicKeys.0)');
        expect(err.message).toContain(`key type ${kind}: no JWT algorithm roomcast accepts verifies it`);
      }
    }
    // Each EC curve jsonwebtoken verifies gets its own algorithm.
    for (const [curve, alg] of [
      ['P-256', 'ES256'],
      ['P-384', 'ES384'],
      ['P-521', 'ES512'],
    ] as const) {
      const key = spki(generateKeyPairSync('ec', { namedCurve: curve }));
      const cfg = loadConfig({ ROOMCAST_JWT_PUBLIC_KEY: key, ROOMCAST_API_KEYS: API_KEYS });
      expect(cfg.namespaces['/']!.jwt.algorithms).toEqual([alg]);
    }
  });

  it('gives an RSA-PSS key the PS algorithm of the hash it names, and refuses it for another', () => {
    const pss = generateKeyPairSync('rsa-pss', {
      modulusLength: 2048,
      hashAlgorithm: 'sha256',
      mgf1HashAlgorithm: 'sha256',
    })
      .publicKey.export({ type: 'spki', format: 'pem' })
      .toString();
    const cfg = loadConfig({ ROOMCAST_JWT_PUBLIC_KEY: pss, ROOMCAST_API_KEYS: API_KEYS });
    expect(cfg.namespaces['/']!.jwt.algorithms).toEqual(['PS256']);
    const err = configError(undefined, { ROOMCAST_JWT_PUBLIC_KEY: pss, ROOMCAST_JWT_ALGORITHMS: 'PS384' });
    expect(err.message).toMatch(
      /key type rsa-pss \(hash sha256, mgf1 sha256, salt \d+\): none of jwt.algorithms \(PS384\) verifies it; it takes PS256/,
    );
  });

  it('refuses a public key that none of an explicit jwt.algorithms verifies', () => {
    const err = configError(undefined, {
      ROOMCAST_JWT_SECRET: SECRET,
      ROOMCAST_JWT_PUBLIC_KEY: pem('ec'),
      ROOMCAST_JWT_ALGORITHMS: 'HS256, RS256',
    });
    expect(err.field).toBe('ROOMCAST_JWT_PUBLIC_KEY (config namespaces./.jwt.publicKeys.0)');
    expect(err.message).toContain(
      'key type ec (prime256v1): none of jwt.algorithms (HS256, RS256) verifies it; it takes ES256',
    );
    const ok = loadConfig({
      ROOMCAST_JWT_SECRET: SECRET,
      ROOMCAST_JWT_PUBLIC_KEY: pem('ec'),
      ROOMCAST_JWT_ALGORITHMS: 'HS256, ES256',
    });
    expect(ok.namespaces['/']!.jwt.algorithms).toEqual(['HS256', 'ES256']);
  });

  it('refuses an HS algorithm without a secret', () => {
    const err = configError(undefined, {
      ROOMCAST_JWT_SECRET: '',
      ROOMCAST_JWT_PUBLIC_KEY: pem('rsa'),
      ROOMCAST_JWT_ALGORITHMS: 'HS256',
    });
    expect(err.message).toMatch(/HS256 needs a secret/);
  });
});

describe('config: merging', () => {
  it('merges the file over the defaults and env over both', () => {
    const file = configFile({
      port: 1234,
      host: '127.0.0.1',
      namespaces: { '/': { limits: { roomsPerConnection: 5 } } },
    });
    const cfg = loadConfig({ ROOMCAST_CONFIG: file, ROOMCAST_JWT_SECRET: SECRET, PORT: '4321' });
    expect(cfg.port).toBe(4321);
    expect(cfg.host).toBe('127.0.0.1');
    expect(cfg.namespaces['/']!.limits).toEqual({
      roomsPerConnection: 5,
      payloadBytes: 65536,
      roomNameLength: 200,
      eventsPerSecond: 100,
      historyLimit: 1000,
      connectionsPerUser: null,
    });
    expect(cfg.namespaces['/']!.jwt.secrets).toEqual([SECRET]);
  });

  it('reads extra namespaces with their own keys and rules from the file', () => {
    const file = configFile({
      namespaces: {
        '/admin': { jwt: { secrets: ['admin-secret-0123456789abcdef012'] }, rules: { subscribe: ['ops:*'] } },
      },
    });
    const cfg = loadConfig({ ROOMCAST_CONFIG: file, ROOMCAST_JWT_SECRET: SECRET });
    expect(Object.keys(cfg.namespaces).sort()).toEqual(['/', '/admin']);
    const admin = cfg.namespaces['/admin']!;
    expect(admin).toMatchObject({ name: '/admin', rules: { subscribe: ['ops:*'], publish: [] } });
    expect(admin.jwt).toMatchObject({
      secrets: ['admin-secret-0123456789abcdef012'],
      algorithms: ['HS256', 'HS384', 'HS512'],
    });
    expect(admin.limits.roomsPerConnection).toBe(128);
    expect(cfg.namespaces['/']!.jwt.secrets).toEqual([SECRET]);
  });

  it('ignores prototype keys and pollutes nothing', () => {
    const text = '{"__proto__": {"polluted": 1, "port": 1}, "constructor": {"prototype": {"polluted": 2}}}';
    const cfg = loadConfig({ ROOMCAST_CONFIG: configFile(text), ROOMCAST_JWT_SECRET: SECRET });
    expect(cfg.port).toBe(3000);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
  });

  it('returns a deeply frozen object', () => {
    const cfg = loadConfig({ ROOMCAST_JWT_SECRET: SECRET });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.namespaces['/']!.limits)).toBe(true);
    expect(Object.isFrozen(cfg.namespaces['/']!.jwt.secrets)).toBe(true);
    expect(() => {
      (cfg as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});
