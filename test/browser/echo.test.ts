import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { type BrowserContext, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker, testConfig, until } from '../helpers/broker.js';
import { type AuthServer, startAuthServer } from '../helpers/laravel.js';

/**
 * Laravel Echo in a page: npm `laravel-echo` and `socket.io-client` bundled for the browser,
 * Debian's Chromium driven by playwright-core, the session cookie sent by the browser itself and
 * forwarded by roomcast to an auth route answered by Laravel's RedisBroadcaster::auth().
 */
const APP = { appId: 'app-1', key: 'app-key-0123456789' };

let auth: AuthServer;
let rc: RunningBroker;
let context: BrowserContext;
let profile: string;
let bundle: string;

beforeAll(async () => {
  const out = await build({
    stdin: {
      contents:
        "import Echo from 'laravel-echo'; import { io } from 'socket.io-client'; window.Echo = Echo; window.io = io;",
      resolveDir: process.cwd(),
    },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
  });
  bundle = out.outputFiles[0]!.text;
  auth = await startAuthServer();
  rc = await startBroker(
    testConfig({ namespaces: { '/': { echo: { authHost: auth.url, apps: [APP], subscribeRedis: false } } } }),
  );
  profile = mkdtempSync(join(tmpdir(), 'roomcast-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
    ],
  });
  context.setDefaultTimeout(10_000);
}, 90_000);

afterAll(async () => {
  await context?.close();
  await rc?.close();
  await auth?.stop();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

describe('Laravel Echo in headless Chromium', () => {
  it('a page with Echo joins a presence channel and a private one with its session cookie, and gets a broadcast', async () => {
    await context.addCookies([{ name: 'laravel_session', value: 'user-2', url: rc.url }]);
    const page = await context.newPage();
    await page.goto(`${rc.url}/healthz`);
    await page.addScriptTag({ content: bundle });
    await page.evaluate((host) => {
      const w = window as unknown as Record<string, unknown> & {
        Echo: new (
          o: object,
        ) => {
          join(n: string): { here(cb: (m: unknown) => void): unknown };
          private(n: string): { listen(e: string, cb: (d: unknown) => void): unknown };
        };
      };
      w.seen = [];
      const echo = new w.Echo({ broadcaster: 'socket.io', host, client: w.io });
      const seen = w.seen as unknown[];
      echo.join('chat.5').here((members) => seen.push(['here', members]));
      echo.private('orders.42').listen('.order.updated', (data) => seen.push(['order', data]));
    }, rc.url);
    await page.waitForFunction(() => (window as unknown as { seen: unknown[] }).seen.length === 1);
    await until(async () => (await channel('private-orders.42')) === 1, 8000, 'the page to subscribe');
    const res = await fetch(`${rc.url}/apps/${APP.appId}/events?auth_key=${APP.key}`, {
      method: 'POST',
      body: JSON.stringify({ channel: 'private-orders.42', name: 'order.updated', data: { id: 42 } }),
    });
    expect(res.status).toBe(200);
    await page.waitForFunction(() => (window as unknown as { seen: unknown[] }).seen.length === 2);
    expect(await page.evaluate(() => (window as unknown as { seen: unknown[] }).seen)).toEqual([
      ['here', [{ id: 2, name: 'Bob' }]],
      ['order', { id: 42 }],
    ]);
  });
});

async function channel(name: string): Promise<number> {
  const res = await fetch(`${rc.url}/apps/${APP.appId}/channels/${name}?auth_key=${APP.key}`);
  return ((await res.json()) as { subscription_count: number }).subscription_count;
}
