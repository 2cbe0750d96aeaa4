import jwt from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash } from '../../src/auth/revocation.js';
import type { Envelope } from '../../src/protocol.js';
import {
  closeClients,
  connect,
  connectError,
  nextEvent,
  type RunningBroker,
  request,
  SECRET,
  startBroker,
  testConfig,
  token,
} from '../helpers/broker.js';

const ADMIN_SECRET = 'admin-secret-0123456789abcdef0123';
const config = testConfig({
  namespaces: {
    '/': { rules: { subscribe: ['public:*', 'user:{sub}'], publish: ['user:{sub}'], presence: [] } },
    '/admin': { jwt: { secrets: [ADMIN_SECRET], requireExp: false }, rules: { subscribe: ['ops:*'] } },
  },
});

let b: RunningBroker;
beforeAll(async () => {
  b = await startBroker(config);
});
afterEach(() => closeClients());
afterAll(() => b.close());

const now = () => Math.floor(Date.now() / 1000);

describe('connection refusals', () => {
  it('token_missing without a token, or with an empty one', async () => {
    for (const auth of [{}, { token: '' }, { token: null }]) {
      const err = await connectError(b.url, undefined, { auth });
      expect(err.message).toBe('token_missing');
      expect(err.data).toEqual({ code: 'token_missing', message: expect.any(String) });
    }
  });

  it.each([
    ['garbage', 'nope'],
    ['a number', 42],
    ['the wrong secret', jwt.sign({ sub: 'a', exp: now() + 60 }, 'wrong-secret-0123456789abcdef012')],
    ['no sub', jwt.sign({ exp: now() + 60 }, SECRET)],
    ['no exp', jwt.sign({ sub: 'a' }, SECRET)],
    [
      'alg none',
      `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"a"}').toString('base64url')}.`,
    ],
    ['another namespace key', jwt.sign({ sub: 'a', exp: now() + 60 }, ADMIN_SECRET)],
    ['a bad rooms claim', jwt.sign({ sub: 'a', exp: now() + 60, rooms: ['x'] }, SECRET)],
  ])('token_invalid for %s', async (_what, tok) => {
    const err = await connectError(b.url, undefined, { auth: { token: tok } });
    expect(err.message).toBe('token_invalid');
    expect(err.data?.code).toBe('token_invalid');
  });

  it('token_expired for an expired token', async () => {
    const err = await connectError(b.url, jwt.sign({ sub: 'a', exp: now() - 60 }, SECRET));
    expect(err.message).toBe('token_expired');
    expect(err.data).toEqual({ code: 'token_expired', message: expect.any(String) });
  });

  it('refuses over long-polling the same way', async () => {
    const err = await connectError(b.url, 'nope', { transports: ['polling'] });
    expect(err.data?.code).toBe('token_invalid');
  });
});

describe('what a connection keeps', () => {
  it('keeps the hash of its token, not the token (Socket.IO keeps the handshake)', async () => {
    const tok = token('keeper', { subscribe: ['public:*'] }, { info: { n: 1 } });
    const c = await connect(b.url, tok, { auth: { token: tok, app: 'kept' } });
    const onServer = b.broker.namespaces.get('/')!.nsp.sockets.get(c.id!)!;
    expect(onServer.handshake.auth).toEqual({ token: undefined, app: 'kept' });
    expect(onServer.data.tokens).toEqual([{ hash: tokenHash(tok), iat: expect.any(Number) }]);
    // The connection works on: rights from the token, and a refresh.
    expect(await request(c, 'join', { room: 'public:k' })).toMatchObject({ ok: true });
    expect(await request(c, 'refresh', { token: token('keeper') })).toMatchObject({ ok: true });
  });
});

describe('algorithms', () => {
  it.each(['HS256', 'HS384', 'HS512'] as const)(
    'takes %s with a secret and no algorithm list',
    async (algorithm) => {
      const tok = jwt.sign({ sub: 'alg', exp: now() + 60, rooms: { subscribe: ['*'] } }, SECRET, {
        algorithm,
      });
      const c = await connect(b.url, tok);
      expect(await request(c, 'join', { room: 'alg:1' })).toMatchObject({ ok: true });
    },
  );
});

describe('namespaces from the config file', () => {
  it('takes its own secret, rules and exp policy', async () => {
    const admin = await connect(b.url, jwt.sign({ sub: 'root' }, ADMIN_SECRET), { ns: '/admin' });
    expect(await request(admin, 'join', { room: 'ops:deploys' })).toMatchObject({ ok: true });
    expect(await request(admin, 'join', { room: 'public:x' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    const err = await connectError(b.url, token('root'), { ns: '/admin' });
    expect(err.data?.code).toBe('token_invalid');
  });

  it('keeps rooms of different namespaces apart', async () => {
    const admin = await connect(b.url, jwt.sign({ sub: 'root' }, ADMIN_SECRET), { ns: '/admin' });
    const user = await connect(b.url, token('u', { subscribe: ['ops:*'], publish: ['ops:*'] }));
    await request(admin, 'join', { room: 'ops:1' });
    await request(user, 'join', { room: 'ops:1' });
    const got = nextEvent<Envelope>(user, 'message');
    await request(user, 'publish', { room: 'ops:1', event: 'e', data: 'root' });
    await request(user, 'publish', { room: 'ops:1', event: 'e', data: 'user', echo: true });
    // The admin namespace saw neither; the user saw only its echo (offset 2 of ITS ops:1).
    expect(await got).toMatchObject({ data: 'user', offset: 2 });
    expect(await request(admin, 'history', { room: 'ops:1' })).toMatchObject({
      ok: true,
      messages: [],
      offset: 0,
    });
  });

  it('refuses a namespace that is not configured', async () => {
    const err = await connectError(b.url, token('a'), { ns: '/nope' });
    expect(err.message).toMatch(/invalid namespace/i);
  });
});

describe('config room rules', () => {
  it('give every user public:* and their own user:{sub}', async () => {
    const c = await connect(b.url, token('alice', {}));
    expect(await request(c, 'join', { room: 'public:news' })).toMatchObject({ ok: true });
    expect(await request(c, 'join', { room: 'user:alice' })).toMatchObject({ ok: true });
    expect(await request(c, 'publish', { room: 'user:alice', event: 'e', data: 1 })).toMatchObject({
      ok: true,
    });
    expect(await request(c, 'join', { room: 'user:bob' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await request(c, 'publish', { room: 'public:news', event: 'e', data: 1 })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
  });

  it('do not widen user:{sub} for a sub of "*"', async () => {
    const star = await connect(b.url, token('*', {}));
    expect(await request(star, 'join', { room: 'user:alice' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await request(star, 'join', { room: 'public:ok' })).toMatchObject({ ok: true });
    const starry = await connect(b.url, token('a*', {}));
    expect(await request(starry, 'join', { room: 'user:ab' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
  });
});

describe('refresh', () => {
  it('accepts a token of the same sub, moves the expiry and replaces rights and info', async () => {
    const c = await connect(b.url, token('alice', { subscribe: ['a:*'] }, { ttlSec: 600 }));
    const fresh = token('alice', { subscribe: ['b:*'] }, { ttlSec: 7200, info: { v: 2 } });
    const reply = await request<{ expiresAt: number }>(c, 'refresh', { token: fresh });
    expect(reply.ok).toBe(true);
    expect(reply.expiresAt).toBe((jwt.decode(fresh) as { exp: number }).exp * 1000);
    expect(await request(c, 'join', { room: 'b:1' })).toMatchObject({ ok: true });
    expect(await request(c, 'join', { room: 'a:1' })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    const pub = await connect(b.url, token('alice', { publish: ['b:*'] }));
    const got = nextEvent<Envelope>(c, 'message');
    await request(pub, 'publish', { room: 'b:1', event: 'e', data: 1 });
    expect(await got).toMatchObject({ room: 'b:1' });
  });

  it('refuses another sub with forbidden and keeps the connection', async () => {
    const c = await connect(b.url, token('alice'));
    expect(await request(c, 'refresh', { token: token('mallory') })).toMatchObject({
      ok: false,
      error: { code: 'forbidden' },
    });
    expect(await request(c, 'join', { room: 'x:1' })).toMatchObject({ ok: true });
  });

  it('reports a bad token with its code', async () => {
    const c = await connect(b.url, token('alice'));
    expect(await request(c, 'refresh', { token: 'nope' })).toMatchObject({
      ok: false,
      error: { code: 'token_invalid' },
    });
    const expired = jwt.sign({ sub: 'alice', exp: now() - 60 }, SECRET);
    expect(await request(c, 'refresh', { token: expired })).toMatchObject({
      ok: false,
      error: { code: 'token_expired' },
    });
    expect(await request(c, 'refresh', {})).toMatchObject({ ok: false, error: { code: 'bad_request' } });
    expect(c.connected).toBe(true);
  });

  it('takes a token without exp where the namespace allows it', async () => {
    const admin = await connect(b.url, jwt.sign({ sub: 'root', exp: now() + 600 }, ADMIN_SECRET), {
      ns: '/admin',
    });
    const reply = await request(admin, 'refresh', { token: jwt.sign({ sub: 'root' }, ADMIN_SECRET) });
    expect(reply).toEqual({ ok: true, expiresAt: null });
  });
});

describe('allowed origins', () => {
  it('refuses a browser origin that is not listed, on both transports', async () => {
    const strict = await startBroker(testConfig({ allowedOrigins: ['https://app.example'] }));
    try {
      for (const transports of [['websocket'], ['polling']]) {
        const bad = await connectError(strict.url, token('a'), {
          transports,
          extraHeaders: { origin: 'https://evil.example' },
        });
        expect(bad.message).toMatch(/error/i);
        const good = await connect(strict.url, token('a'), {
          transports,
          extraHeaders: { origin: 'https://app.example' },
        });
        expect(await request(good, 'join', { room: 'o:1' })).toMatchObject({ ok: true });
      }
      // A server-side client sends no Origin; CORS does not apply to it.
      expect((await connect(strict.url, token('a'))).connected).toBe(true);
    } finally {
      closeClients();
      await strict.close();
    }
  });
});
