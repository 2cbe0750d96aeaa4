import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { describe, expect, it } from 'vitest';
import { inferAlgorithms } from '../../src/auth/keys.js';
import { createVerifier } from '../../src/auth/verify.js';
import type { JwtAlgorithm, NamespaceConfig } from '../../src/config.js';
import { RoomcastError } from '../../src/errors.js';

const SECRET = 'unit-secret-0123456789abcdef0123';
const OLD_SECRET = 'old-secret-0123456789abcdef01234';
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const otherEc = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const RSA_PUBLIC = rsa.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const RSA_PRIVATE = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const EC_PUBLIC = ec.publicKey.export({ type: 'spki', format: 'pem' }).toString();

function ns(jwtOverrides: Partial<NamespaceConfig['jwt']> = {}): NamespaceConfig {
  const base = {
    secrets: [SECRET],
    publicKeys: [] as string[],
    issuer: null,
    audience: null,
    requireExp: true,
    clockToleranceSec: 5,
    ...jwtOverrides,
  };
  const algorithms = jwtOverrides.algorithms ?? inferAlgorithms(base.secrets, base.publicKeys);
  return {
    name: '/',
    jwt: { ...base, algorithms },
    apiKeys: [],
    rules: { subscribe: [], publish: [], presence: [] },
    limits: {
      roomsPerConnection: 128,
      payloadBytes: 65536,
      roomNameLength: 200,
      eventsPerSecond: 100,
      historyLimit: 1000,
      connectionsPerUser: null,
    },
    history: [],
    presence: ['*'],
  };
}

const now = () => Math.floor(Date.now() / 1000);
const claims = (extra: Record<string, unknown> = {}) => ({ sub: 'alice', exp: now() + 60, ...extra });

function sign(payload: object, key: string | Buffer, algorithm: jwt.Algorithm = 'HS256'): string {
  return jwt.sign(payload, key, { algorithm });
}

function codeOf(config: NamespaceConfig, token: unknown): string {
  try {
    createVerifier(config).verify(token);
    return 'ok';
  } catch (err) {
    expect(err).toBeInstanceOf(RoomcastError);
    return (err as RoomcastError).code;
  }
}

const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');

describe('verifyToken: algorithms and keys', () => {
  it.each(['HS256', 'HS384', 'HS512'] as const)('accepts %s with the secret when allowed', (alg) => {
    const config = ns({ algorithms: ['HS256', 'HS384', 'HS512'] });
    const out = createVerifier(config).verify(sign(claims({ info: { n: 1 } }), SECRET, alg));
    expect(out).toMatchObject({ sub: 'alice', info: { n: 1 }, rooms: {} });
  });

  it('refuses an algorithm the namespace does not list', () => {
    expect(codeOf(ns({ algorithms: ['HS256'] }), sign(claims(), SECRET, 'HS512'))).toBe('token_invalid');
  });

  it('accepts RS256 and ES256 with their public keys', () => {
    const config = ns({ secrets: [], publicKeys: [RSA_PUBLIC, EC_PUBLIC] });
    expect(config.jwt.algorithms).toEqual(expect.arrayContaining(['RS256', 'ES256']));
    expect(codeOf(config, sign(claims(), RSA_PRIVATE, 'RS256'))).toBe('ok');
    expect(codeOf(config, jwt.sign(claims(), ec.privateKey, { algorithm: 'ES256' }))).toBe('ok');
    expect(codeOf(config, jwt.sign(claims(), otherEc.privateKey, { algorithm: 'ES256' }))).toBe(
      'token_invalid',
    );
  });

  it('accepts every configured secret (rotation) and no other', () => {
    const config = ns({ secrets: [SECRET, OLD_SECRET] });
    expect(codeOf(config, sign(claims(), SECRET))).toBe('ok');
    expect(codeOf(config, sign(claims(), OLD_SECRET))).toBe('ok');
    expect(codeOf(config, sign(claims(), 'some-other-secret-0123456789abcd'))).toBe('token_invalid');
  });

  it('refuses alg none, signed or not', () => {
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`;
    expect(codeOf(ns(), none)).toBe('token_invalid');
    expect(codeOf(ns({ algorithms: ['HS256'] }), none)).toBe('token_invalid');
    const noAlg = `${b64({ typ: 'JWT' })}.${b64(claims())}.x`;
    expect(codeOf(ns(), noAlg)).toBe('token_invalid');
  });

  it('refuses an HS256 token signed with the RSA public key as the HMAC secret', () => {
    const forged = sign(claims(), Buffer.from(RSA_PUBLIC), 'HS256');
    expect(codeOf(ns({ secrets: [], publicKeys: [RSA_PUBLIC] }), forged)).toBe('token_invalid');
    expect(codeOf(ns({ secrets: [], publicKeys: [RSA_PUBLIC], algorithms: ['RS256'] }), forged)).toBe(
      'token_invalid',
    );
    // Even when the namespace takes HS256 too (with its own secret), the public key is no secret.
    const mixed = ns({ publicKeys: [RSA_PUBLIC], algorithms: ['HS256', 'RS256'] });
    expect(codeOf(mixed, forged)).toBe('token_invalid');
    expect(codeOf(mixed, sign(claims(), RSA_PRIVATE, 'RS256'))).toBe('ok');
  });
});

describe('verifyToken: claims', () => {
  it('checks issuer and audience when configured', () => {
    const config = ns({ issuer: 'https://app', audience: 'roomcast' });
    expect(codeOf(config, sign(claims({ iss: 'https://app', aud: 'roomcast' }), SECRET))).toBe('ok');
    expect(codeOf(config, sign(claims({ iss: 'https://evil', aud: 'roomcast' }), SECRET))).toBe(
      'token_invalid',
    );
    expect(codeOf(config, sign(claims({ iss: 'https://app', aud: 'other' }), SECRET))).toBe('token_invalid');
    expect(codeOf(config, sign(claims(), SECRET))).toBe('token_invalid');
  });

  it.each([
    ['missing', {}],
    ['empty', { sub: '' }],
    ['a number', { sub: 42 }],
    ['an object', { sub: { id: 'a' } }],
    ['too long', { sub: 'a'.repeat(257) }],
  ])('refuses a sub that is %s', (_what, sub) => {
    const { sub: _drop, ...rest } = claims();
    expect(codeOf(ns(), sign({ ...rest, ...sub }, SECRET))).toBe('token_invalid');
  });

  it('requires exp unless the namespace allows tokens without it', () => {
    const noExp = sign({ sub: 'alice' }, SECRET);
    expect(codeOf(ns(), noExp)).toBe('token_invalid');
    const out = createVerifier(ns({ requireExp: false })).verify(noExp);
    expect(out.sub).toBe('alice');
    expect(out.exp).toBeUndefined();
  });

  it('tells an expired token apart, within the clock tolerance', () => {
    expect(codeOf(ns(), sign(claims({ exp: now() - 60 }), SECRET))).toBe('token_expired');
    expect(codeOf(ns(), sign(claims({ exp: now() - 2 }), SECRET))).toBe('ok');
    expect(codeOf(ns({ clockToleranceSec: 0 }), sign(claims({ exp: now() - 2 }), SECRET))).toBe(
      'token_expired',
    );
    expect(codeOf(ns(), sign(claims({ nbf: now() + 60 }), SECRET))).toBe('token_invalid');
    expect(codeOf(ns(), sign(claims({ nbf: now() + 2 }), SECRET))).toBe('ok');
  });

  it('says expired only for a genuine signature', () => {
    const expired = claims({ exp: now() - 60 });
    expect(codeOf(ns(), sign(expired, 'some-other-secret-0123456789abcd'))).toBe('token_invalid');
    expect(codeOf(ns({ secrets: [SECRET, OLD_SECRET] }), sign(expired, OLD_SECRET))).toBe('token_expired');
  });

  it('refuses an exp that is not a number', () => {
    const bad = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'a', exp: 'soon' })}`;
    const signature = jwt.sign({ x: 1 }, SECRET).split('.')[2];
    expect(codeOf(ns(), `${bad}.${signature}`)).toBe('token_invalid');
  });

  it('refuses an exp past the dates JavaScript holds, which would read as no expiry', () => {
    expect(codeOf(ns(), sign(claims({ exp: 1e306 }), SECRET))).toBe('token_invalid');
    expect(codeOf(ns(), sign(claims({ exp: 8.64e12 + 1 }), SECRET))).toBe('token_invalid');
    const far = createVerifier(ns()).verify(sign(claims({ exp: 8.64e12 }), SECRET));
    expect(far.exp).toBe(8.64e12);
  });

  it.each([
    ['a sub with a lone surrogate', { sub: 'a\ud800' }, '"sub"'],
    [
      'an info shaped like a Socket.IO binary placeholder',
      { info: { _placeholder: true, num: 0 } },
      'placeholder',
    ],
    ['an info with a lone surrogate', { info: { name: 'x\udc00' } }, 'UTF-16'],
    [
      'an info nested past 100 levels',
      { info: JSON.parse(`${'['.repeat(101)}${']'.repeat(101)}`) },
      'deeper',
    ],
  ])('refuses %s (it goes into envelopes and replies)', (_what, extra, words) => {
    try {
      createVerifier(ns()).verify(sign(claims(extra), SECRET));
      expect.unreachable();
    } catch (err) {
      expect(err).toMatchObject({ code: 'token_invalid', message: expect.stringContaining(words) });
    }
    const fine = createVerifier(ns()).verify(sign(claims({ info: { name: 'Zoë 😀', deep: [[1]] } }), SECRET));
    expect(fine.info).toEqual({ name: 'Zoë 😀', deep: [[1]] });
  });

  it.each([
    ['a string', 'chat:*'],
    ['an array', ['chat:*']],
    ['a number', 7],
    ['subscribe as a string', { subscribe: 'chat:*' }],
    ['subscribe with a number', { subscribe: ['chat:*', 1] }],
    ['publish as an object', { publish: { 0: 'x' } }],
    ['presence with null', { presence: [null] }],
  ])('refuses a rooms claim that is %s', (_what, rooms) => {
    expect(codeOf(ns(), sign(claims({ rooms }), SECRET))).toBe('token_invalid');
  });

  it('reads the rooms claim and ignores unknown rights', () => {
    const rooms = { subscribe: ['chat:*'], publish: [], other: ['x'] };
    expect(createVerifier(ns()).verify(sign(claims({ rooms }), SECRET)).rooms).toEqual({
      subscribe: ['chat:*'],
      publish: [],
    });
    expect(createVerifier(ns()).verify(sign(claims({ rooms: null }), SECRET)).rooms).toEqual({});
  });
});

describe('verifyToken: the token itself', () => {
  it.each([undefined, null, ''])('says token_missing for %j', (value) => {
    expect(codeOf(ns(), value)).toBe('token_missing');
  });

  it.each([
    ['a number', 42],
    ['an object', { token: 'x' }],
    ['an array', ['a.b.c']],
    ['garbage', 'not-a-jwt'],
    ['three garbage parts', 'a.b.c'],
    ['a payload that is not JSON', `${b64({ alg: 'HS256' })}.bm90IGpzb24.sig`],
    ['a huge string', `${'a'.repeat(20_000)}.b.c`],
  ])('says token_invalid for %s', (_what, value) => {
    expect(codeOf(ns(), value)).toBe('token_invalid');
  });

  it('infers algorithms from key types', () => {
    const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
    const pem384 = ec384.export({ type: 'spki', format: 'pem' }).toString();
    expect(inferAlgorithms([SECRET], [])).toEqual(['HS256', 'HS384', 'HS512']);
    expect(inferAlgorithms([], [EC_PUBLIC])).toEqual(['ES256']);
    expect(inferAlgorithms([], [pem384])).toEqual(['ES384']);
    expect(inferAlgorithms([], [RSA_PUBLIC])).toEqual(
      expect.arrayContaining<JwtAlgorithm>(['RS256', 'PS256']),
    );
    expect(inferAlgorithms([], ['not a pem'])).toEqual([]);
  });
});
