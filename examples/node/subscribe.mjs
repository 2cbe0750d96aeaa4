#!/usr/bin/env node
/**
 * Subscribes to a room with the roomcast client SDK and prints every message, in order, once,
 * across reconnects. Optionally saves its position so the next run resumes where this one stopped.
 *
 *   npm run build && npm start                 # in one terminal: prints a demo token
 *   ROOMCAST_TOKEN=<token> node examples/node/subscribe.mjs chat:lobby
 *
 * Env: ROOMCAST_URL (default http://localhost:3000; a comma list fails over between nodes),
 * ROOMCAST_TOKEN (a user JWT: the demo token `npm start` prints, or `npx roomcast token --sub me
 * --subscribe 'chat:*'` with the broker's ROOMCAST_JWT_SECRET exported), POSITION_FILE (optional: resume from and save the room's position).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createClient } from 'roomcast/client';

const room = process.argv[2] ?? 'chat:lobby';
const urls = (process.env.ROOMCAST_URL ?? 'http://localhost:3000').split(',');
const token = process.env.ROOMCAST_TOKEN;
const positionFile = process.env.POSITION_FILE;
if (!token) {
  console.error('set ROOMCAST_TOKEN to a user JWT (npm start prints a demo token)');
  process.exit(64);
}

const client = createClient({ urls, token });
client.on('state', (state) => console.error(`[${state}] ${client.url}`));
client.on('error', (err) => console.error(`error ${err.code}: ${err.message}`));
client.on('closing', ({ code, message }) => console.error(`server closing: ${code} (${message})`));

const since = positionFile ? readPosition(positionFile) : undefined;
const sub = client.join(room, since ? { since } : {});
const save = () => {
  if (positionFile && sub.position) writeFileSync(positionFile, JSON.stringify(sub.position));
};
sub.on('*', (data, meta) => {
  const who = meta.from ? meta.from.sub : 'server';
  const tag = meta.replayed ? ' (missed)' : '';
  console.log(`#${meta.offset} ${meta.event} from ${who}${tag}: ${JSON.stringify(data)}`);
  save();
});
// After each (re)join too: a run that sees no message still resumes the next one from here.
sub.onJoined(save);
sub.onUnrecovered(({ from, to, reason }) =>
  console.error(`lost messages after #${from?.offset ?? '?'} up to #${to.offset} (${reason})`),
);

// A refused token stops the client (`disconnected`) with the room still waiting to join.
const stopped = new Promise((resolve) => client.on('disconnected', resolve)).then(({ reason, error }) => ({
  ok: false,
  error: error ?? { code: reason, message: 'the client stopped' },
}));
const joined = await Promise.race([sub.joined, stopped]);
if (!joined.ok) {
  console.error(`cannot join ${room}: ${joined.error.code} ${joined.error.message}`);
  client.close();
  process.exit(1);
}
console.error(`joined ${room} at #${joined.offset}${since ? ` (resumed from #${since.offset})` : ''}`);

process.on('SIGINT', () => {
  client.close();
  process.exit(0);
});

function readPosition(file) {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) ?? undefined;
  } catch {
    return undefined;
  }
}
