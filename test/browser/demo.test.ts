import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_KEY, type RunningBroker, startBroker, testConfig } from '../helpers/broker.js';

/**
 * The demo page end to end: Debian's Chromium (never a downloaded browser) driven by
 * playwright-core, two pages chatting through a real broker, the client bundle built by
 * scripts/build-client.mjs and served at /roomcast.js.
 */

let b: RunningBroker;
let context: BrowserContext;
let profile: string;

beforeAll(async () => {
  await promisify(execFile)(process.execPath, ['scripts/build-client.mjs'], { timeout: 60_000 });
  b = await startBroker(testConfig({ namespaces: { '/': { limits: { eventsPerSecond: 1000 } } } }));
  profile = mkdtempSync(join(tmpdir(), 'roomcast-chromium-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1280, height: 720 },
  });
  context.setDefaultTimeout(10_000);
}, 90_000);

afterAll(async () => {
  await context?.close();
  await b?.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function enter(name: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`[${name}] page error:`, err));
  await page.goto(b.url);
  await page.fill('#name', name);
  await page.click('#login-form button');
  await page.waitForSelector('#state[data-state="connected"]');
  await page.waitForSelector('#rooms li[data-room="chat:lobby"]');
  return page;
}

async function say(page: Page, text: string): Promise<void> {
  await page.fill('#text', text);
  await page.press('#text', 'Enter');
  await page.waitForSelector(`.msg:has-text("${text}")`);
}

/** The messages a page shows: offset, text, and whether it is marked missed. */
function shown(page: Page): Promise<Array<{ offset: number; text: string; missed: boolean }>> {
  return page.$$eval('.msg', (els) =>
    els.map((el) => ({
      offset: Number((el as HTMLElement).dataset.offset),
      text: el.querySelector('.text')?.textContent ?? '',
      missed: el.classList.contains('missed'),
    })),
  );
}

describe('the demo page', () => {
  it('serves the SDK bundle and refuses a bad demo name', async () => {
    const js = await fetch(`${b.url}/roomcast.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toContain('javascript');
    expect(await js.text()).toContain('createClient');
    const bad = await fetch(`${b.url}/demo/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: '<script>' }),
    });
    expect(bad.status).toBe(400);
  });

  it('lets two pages chat, shows presence and messages from the HTTP API', async () => {
    const ada = await enter('Ada');
    const bob = await enter('Bob');
    await say(ada, 'hello bob');
    await bob.waitForSelector('.msg:has-text("hello bob")');
    await say(bob, 'hi ada');
    await ada.waitForSelector('.msg:has-text("hi ada")');
    await ada.waitForSelector('#members li:has-text("Bob")');
    const res = await fetch(`${b.url}/v1/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ room: 'chat:lobby', event: 'msg', data: { text: 'from the backend' } }),
    });
    expect(res.status).toBe(200);
    for (const page of [ada, bob]) {
      await page.waitForSelector('.msg:has(.tag.server):has-text("from the backend")');
    }
    await Promise.all([ada.close(), bob.close()]);
  });

  it('recovers what a page missed while disconnected, and after a reload', async () => {
    const ada = await enter('Ada');
    const bob = await enter('Bob');
    await say(ada, 'before the drop');
    await bob.waitForSelector('.msg:has-text("before the drop")');

    await bob.click('#toggle'); // Drop connection
    await bob.waitForSelector('#state[data-state="disconnected"]');
    await say(ada, 'missed one');
    await say(ada, 'missed two');
    await bob.click('#toggle'); // Reconnect
    await bob.waitForSelector('.msg.missed:has-text("missed two")');
    await bob.waitForSelector('.notice:has-text("2 missed messages recovered")');

    await bob.goto('about:blank'); // Bob leaves the page...
    await say(ada, 'while you were away');
    await bob.goto(b.url); // ...and comes back: the session resumes from the saved offsets
    await bob.waitForSelector('.msg.missed:has-text("while you were away")');
    await bob.waitForSelector('.notice:has-text("Welcome back")');
    await bob.waitForSelector('.msg.earlier:has-text("before the drop")'); // context from history

    const messages = await shown(bob);
    const offsets = messages.map((m) => m.offset);
    expect(offsets).toEqual([...offsets].sort((x, y) => x - y));
    expect(new Set(offsets).size).toBe(offsets.length);
    const texts = messages.map((m) => m.text);
    for (const text of ['before the drop', 'missed one', 'missed two', 'while you were away']) {
      if (!texts.includes(text)) console.error('shown after the reload:', messages);
      expect(texts.filter((t) => t === text)).toHaveLength(1);
    }
    expect(messages.find((m) => m.text === 'while you were away')?.missed).toBe(true);
    await Promise.all([ada.close(), bob.close()]);
  });
});
