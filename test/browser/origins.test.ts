import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api } from '../api/http.js';
import { type RunningBroker, startBroker, testConfig, token } from '../helpers/broker.js';

/**
 * A page on another origin, in Debian's Chromium: it imports `/roomcast.js` as an ES module (the
 * no-build option of docs/sdk.md) and opens an EventSource, against brokers whose `allowedOrigins`
 * lists its origin, lists another one, or is `["*"]`.
 */

let page: Page;
let pageOrigin: string;
let site: Server;
let context: BrowserContext;
let profile: string;
const brokers: RunningBroker[] = [];

beforeAll(async () => {
  await promisify(execFile)(process.execPath, ['scripts/build-client.mjs'], { timeout: 60_000 });
  site = createServer((_req, res) => res.end('<!doctype html><title>another origin</title>'));
  await new Promise<void>((resolve) => site.listen(0, '127.0.0.1', resolve));
  pageOrigin = `http://127.0.0.1:${(site.address() as AddressInfo).port}`;
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
  page = await context.newPage();
  await page.goto(pageOrigin);
}, 90_000);

afterAll(async () => {
  await context?.close();
  await Promise.all(brokers.map((b) => b.close()));
  await new Promise((resolve) => site?.close(resolve));
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function broker(allowedOrigins: string[]): Promise<RunningBroker> {
  const b = await startBroker(testConfig({ allowedOrigins }));
  brokers.push(b);
  return b;
}

/** `import()` of the broker's bundle from the page: 'imported', or the error. */
function importSdk(url: string): Promise<string> {
  // A string, so that the test runner's transform leaves this import() to the browser.
  const src = JSON.stringify(`${url}/roomcast.js`);
  return page.evaluate(
    `import(${src}).then((m) => typeof m.createClient === 'function' ? 'imported' : 'no createClient', (e) => 'failed: ' + e.message)`,
  );
}

/** Opens an EventSource from the page: 'open' once the stream has started (rooms joined), or 'error'. */
function openEventSource(url: string): Promise<string> {
  return page.evaluate(
    (src) =>
      new Promise<string>((resolve) => {
        const es = new EventSource(src);
        const w = window as unknown as { es?: EventSource; notes: string[] };
        w.es = es;
        w.notes = [];
        es.addEventListener('note', (e) => w.notes.push((e as MessageEvent).data));
        es.onopen = () => resolve('open');
        es.onerror = () => {
          es.close();
          resolve('error');
        };
      }),
    url,
  );
}

describe('a page on another origin', () => {
  it('imports /roomcast.js from a broker that lists its origin, and from one with "*"', async () => {
    expect(await importSdk((await broker([pageOrigin])).url)).toBe('imported');
    expect(await importSdk((await broker(['*'])).url)).toBe('imported');
  });

  it('cannot import it from a broker that lists only other origins', async () => {
    expect(await importSdk((await broker(['https://app.example'])).url)).toMatch(/^failed/);
  });

  it('streams SSE from a broker that lists its origin; a broker that does not refuses it', async () => {
    const tok = token('reader', { subscribe: ['b:*'], publish: [], presence: [] });
    const ok = await broker([pageOrigin]);
    expect(await openEventSource(`${ok.url}/v1/events?room=b:1&token=${tok}`)).toBe('open');
    await api(ok.url, 'POST', '/v1/publish', { room: 'b:1', event: 'note', data: 'hi' });
    const data = await page.waitForFunction(() => (window as unknown as { notes: string[] }).notes[0]);
    expect(JSON.parse(String(await data.jsonValue()))).toMatchObject({
      room: 'b:1',
      event: 'note',
      data: 'hi',
    });
    await page.evaluate(() => (window as unknown as { es: EventSource }).es.close());
    const refused = await broker(['https://app.example']);
    expect(await openEventSource(`${refused.url}/v1/events?room=b:1&token=${tok}`)).toBe('error');
  });
});
