import { afterEach, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker, testConfig } from '../helpers/broker.js';

/** Which browser routes a broker serves: the SDK always, the demo only in development with `demo` on. */

let b: RunningBroker | undefined;
afterEach(async () => {
  await b?.close();
  b = undefined;
});

async function routes(broker: RunningBroker) {
  const token = await fetch(`${broker.url}/demo/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'Ada' }),
  });
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
    b = await startBroker(testConfig({}, { NODE_ENV: 'production' }));
    const r = await routes(b);
    expect([r.page, r.token]).toEqual([404, 404]);
    expect([200, 404]).toContain(r.bundle); // 404 only when the bundle was never built
  });
});
