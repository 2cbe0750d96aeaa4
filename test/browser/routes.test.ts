import { networkInterfaces } from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { fromLoopback, isLoopback } from '../../src/http/demo.js';
import { type RunningBroker, startBroker, testConfig } from '../helpers/broker.js';

/** Which browser routes a broker serves: the SDK always, the demo only in development with `demo` on. */

let b: RunningBroker | undefined;
afterEach(async () => {
  await b?.close();
  b = undefined;
});

function demoToken(base: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${base}/demo/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ name: 'Ada' }),
    signal: AbortSignal.timeout(10_000),
  });
}

/** An address of this machine that is not loopback, if it has one. */
const external = Object.values(networkInterfaces())
  .flat()
  .find((a) => a && !a.internal && a.family === 'IPv4')?.address;

async function routes(broker: RunningBroker) {
  const token = await demoToken(broker.url);
  return {
    page: (await fetch(`${broker.url}/`)).status,
    token: token.status,
    tokenBody: (await token.json()) as { ok: boolean; token?: string; sub?: string },
    bundle: (await fetch(`${broker.url}/roomcast.js`)).status,
  };
}

describe('browser routes', () => {
  it('serves the demo and mints demo tokens in development', async () => {
    b = await startBroker(testConfig());
    const r = await routes(b);
    expect(r.page).toBe(200);
    expect(r.token).toBe(200);
    expect(r.tokenBody).toMatchObject({ ok: true, sub: 'ada' });
    const claims = JSON.parse(Buffer.from(r.tokenBody.token!.split('.')[1]!, 'base64url').toString());
    expect(claims.rooms).toEqual({
      subscribe: ['chat:*', 'demo:*'],
      publish: ['chat:*', 'demo:*'],
      presence: ['chat:*', 'demo:*'],
    });
  });

  it('has no demo page or token route with demo off', async () => {
    b = await startBroker(testConfig({ demo: false }));
    const r = await routes(b);
    expect([r.page, r.token]).toEqual([404, 404]);
    expect(r.tokenBody.ok).toBe(false);
  });

  it('has no demo page or token route in production, but still serves the SDK bundle', async () => {
    b = await startBroker(testConfig({ allowedOrigins: ['*'] }, { NODE_ENV: 'production' }));
    const r = await routes(b);
    expect([r.page, r.token]).toEqual([404, 404]);
    expect([200, 404]).toContain(r.bundle); // 404 only when the bundle was never built
  });
});

describe('POST /demo/token answers this machine only', () => {
  it.each([
    ['127.0.0.1', true],
    ['127.5.6.7', true],
    ['::1', true],
    ['0:0:0:0:0:0:0:1', true],
    ['::ffff:127.0.0.1', true],
    ['10.0.0.5', false],
    ['::ffff:10.0.0.5', false],
    ['192.168.1.20', false],
    ['fd00::2', false],
    ['fe80::1', false],
    ['::', false],
    ['0.0.0.0', false],
    ['128.0.0.1', false],
    ['', false],
  ])('isLoopback(%j) is %s', (ip, loopback) => {
    expect(isLoopback(ip)).toBe(loopback);
  });

  it('refuses a loopback peer that forwards for someone else (a proxy on this machine)', () => {
    expect(fromLoopback({ ip: '127.0.0.1', headers: {} })).toBe(true);
    expect(fromLoopback({ ip: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.9' } })).toBe(false);
    expect(fromLoopback({ ip: '::1', headers: { forwarded: 'for=203.0.113.9' } })).toBe(false);
    expect(fromLoopback({ ip: '10.0.0.5', headers: {} })).toBe(false);
  });

  it('gives a token through 127.0.0.1, and 403 forbidden behind a proxy', async () => {
    b = await startBroker(testConfig());
    expect((await demoToken(b.url)).status).toBe(200);
    const proxied = await demoToken(b.url, { 'x-forwarded-for': '203.0.113.9' });
    expect(proxied.status).toBe(403);
    expect(await proxied.json()).toEqual({
      ok: false,
      error: { code: 'forbidden', message: expect.any(String) },
    });
  });

  it.skipIf(!external)('refuses a client that reaches it through a non-loopback address', async () => {
    b = await startBroker(testConfig({ host: '0.0.0.0' }));
    const refused = await demoToken(`http://${external}:${b.port}`);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('forbidden');
    // The same broker still serves this machine, and the rest of the port to everyone.
    expect((await demoToken(b.url)).status).toBe(200);
    expect((await fetch(`http://${external}:${b.port}/healthz`)).status).toBe(200);
  });
});
