import { afterAll, beforeAll, expect, it } from 'vitest';
import { type RunningBroker, startBroker, testConfig } from '../helpers/broker.js';

/**
 * A Laravel Echo namespace's clients speak Engine.IO 3 (socket.io-client 2): their polling follows
 * the port's one origin policy too (README "Configuration", `allowedOrigins`).
 */

const APP = 'https://app.example';
const EVIL = 'https://evil.example';

let echo: RunningBroker;
beforeAll(async () => {
  echo = await startBroker(
    testConfig({
      allowedOrigins: [APP],
      namespaces: {
        '/': {
          echo: {
            authHost: 'http://127.0.0.1:9',
            apps: [{ appId: 'app-1', key: 'app-key-0123456789' }],
            subscribeRedis: false,
          },
        },
      },
    }),
  );
});
afterAll(async () => {
  await echo?.close();
});

const handshake = (origin?: string) =>
  fetch(`${echo.url}/socket.io/?EIO=3&transport=polling`, {
    headers: origin ? { origin } : {},
    signal: AbortSignal.timeout(10_000),
  });

it('a Laravel Echo namespace (Engine.IO 3 polling) follows the origin policy', async () => {
  const ok = await handshake(APP);
  expect(ok.status).toBe(200);
  expect(ok.headers.get('access-control-allow-origin')).toBe(APP);
  expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
  expect(ok.headers.get('vary')).toMatch(/origin/i);
  await ok.arrayBuffer();
  const refused = await handshake(EVIL);
  expect(refused.status).toBe(403);
  await refused.arrayBuffer();
  const none = await handshake();
  expect(none.headers.get('access-control-allow-origin')).toBeNull();
  expect(none.headers.get('access-control-allow-credentials')).toBeNull();
  await none.arrayBuffer();
});
