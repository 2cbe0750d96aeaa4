#!/usr/bin/env node
/**
 * Takes docs/demo.png: starts a broker from dist/ (run `npm run build` first), opens the demo in
 * two Chromium pages (Debian's /usr/bin/chromium through playwright-core; nothing is downloaded),
 * chats, publishes once through the HTTP API, and has one page miss messages while disconnected.
 *
 *   node scripts/demo-screenshot.mjs [out.png]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { createBroker } from '../dist/broker/create-broker.js';
import { loadConfig } from '../dist/config.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(process.argv[2] ?? join(root, 'docs/demo.png'));
const API_KEY = 'demo-screenshot-key';

const config = loadConfig({
  HOST: '127.0.0.1',
  PORT: '0',
  ROOMCAST_LOG_LEVEL: 'silent',
  ROOMCAST_JWT_SECRET: 'screenshot-secret-0123456789abcdef',
  ROOMCAST_API_KEYS: API_KEY,
});
const broker = await createBroker(config);
const { url } = await broker.listen();
const profile = mkdtempSync(join(tmpdir(), 'roomcast-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
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
  viewport: { width: 1280, height: 660 },
  deviceScaleFactor: 1,
});
try {
  const enter = async (name) => {
    const page = await context.newPage();
    await page.goto(url);
    await page.fill('#name', name);
    await page.click('#login-form button');
    await page.waitForSelector('#state[data-state="connected"]');
    return page;
  };
  const say = async (page, text) => {
    await page.fill('#text', text);
    await page.press('#text', 'Enter');
    await page.waitForSelector(`.msg >> text="${text}"`);
  };
  const ada = await enter('Ada');
  const grace = await enter('Grace');
  await say(ada, 'Hi Grace! This page runs on the roomcast SDK.');
  await say(grace, 'Hi Ada. Every message has an offset: see the #numbers.');
  await fetch(`${url}/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      room: 'chat:lobby',
      event: 'msg',
      data: { text: 'Deploy finished (published from the HTTP API)' },
    }),
  });
  await grace.waitForSelector('.msg >> text="Deploy finished (published from the HTTP API)"');
  await grace.click('#toggle');
  await grace.waitForSelector('#state[data-state="disconnected"]');
  await say(ada, 'Grace dropped her connection; she will still get this…');
  await say(ada, '…and this, once, in order.');
  await grace.click('#toggle');
  await grace.waitForSelector('.msg.missed >> text="…and this, once, in order."');
  await grace.waitForSelector('.notice');
  await grace.screenshot({ path: out });
  console.log(`screenshot: ${out}`);
} finally {
  await context.close();
  await broker.close();
  rmSync(profile, { recursive: true, force: true });
}
