#!/usr/bin/env node
/**
 * What the heap holds per idle connection, by kind of object, for roomcast and for bare Socket.IO:
 * the server runs in this process, N clients (websocket, a token each for roomcast) connect from a
 * child process and join one room of 10 (a client that fails ends the run), and two heap snapshots (after forced GCs, before the
 * clients and with them) are compared. Prints bytes and objects per connection of each kind whose
 * difference is at least 8 bytes. Run after `npm run build`:
 *
 *   node --expose-gc bench/idle-heap.mjs [--servers roomcast,bare] [--clients 2000] [--top 30]
 *
 * The `idle` scenario of `npm run bench` measures RSS per connection (the issue-11 bar); this
 * says what makes the heap part of it. Snapshots go to a temporary directory.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeHeapSnapshot } from 'node:v8';

const SECRET = 'idle-heap-secret-0123456789abcdef0123';

if (process.argv[2] === '--clients-of')
  await runClients(process.argv[3], Number(process.argv[4]), process.argv[5]);
else await main();

async function main() {
  const { values } = parseArgs({
    options: {
      servers: { type: 'string', default: 'roomcast,bare' },
      clients: { type: 'string', default: '2000' },
      top: { type: 'string', default: '30' },
    },
  });
  if (typeof globalThis.gc !== 'function') throw new Error('run with node --expose-gc');
  const n = Number(values.clients);
  const dir = mkdtempSync(join(tmpdir(), 'roomcast-idle-heap-'));
  // One server at a time, each in a process of its own (this one for the first, a fork for the rest).
  const [first, ...rest] = values.servers.split(',');
  if (rest.length) {
    for (const kind of rest) {
      const child = fork(
        process.argv[1],
        ['--servers', kind, '--clients', values.clients, '--top', values.top],
        {
          execArgv: process.execArgv,
        },
      );
      await new Promise((resolve) => child.once('exit', resolve));
    }
  }
  const url = await startServer(first);
  const before = summarize(snapshot(dir, `${first}-0`));
  const clients = fork(process.argv[1], ['--clients-of', url, String(n), first]);
  await new Promise((resolve, reject) => {
    clients.once('message', resolve);
    clients.once('exit', (code) => reject(new Error(`clients exited (${code})`)));
  });
  const after = summarize(snapshot(dir, `${first}-${n}`));
  clients.kill();
  report(first, n, before, after, Number(values.top));
  process.exit(0);
}

async function startServer(kind) {
  if (kind === 'roomcast') {
    const { createBroker, loadConfig } = await import('../dist/index.js');
    const file = join(mkdtempSync(join(tmpdir(), 'roomcast-idle-heap-')), 'config.json');
    writeFileSync(file, JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'silent' }));
    const env = { ROOMCAST_JWT_SECRET: SECRET, ROOMCAST_API_KEYS: 'idle-heap-key', ROOMCAST_CONFIG: file };
    const { port } = await (await createBroker(loadConfig(env))).listen();
    return `http://127.0.0.1:${port}`;
  }
  const { Server } = await import('socket.io');
  const http = createServer();
  new Server(http).on('connection', (socket) => {
    socket.on('join', (req, ack) => {
      socket.join(req.room);
      ack?.({ ok: true });
    });
  });
  await new Promise((resolve) => http.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${http.address().port}`;
}

/** The clients: connect in batches of 200, each joins room i % (n / 10), then tell the parent. */
async function runClients(url, n, kind) {
  const { io } = await import('socket.io-client');
  const jwt = (await import('jsonwebtoken')).default;
  const rooms = Math.max(1, Math.floor(n / 10));
  let joined = 0;
  const fail = (i, why) => {
    console.error(`client ${i}: ${why}`);
    process.exit(1);
  };
  for (let i = 0; i < n; i++) {
    const auth =
      kind === 'roomcast'
        ? {
            token: jwt.sign({ sub: `u${i}`, rooms: { subscribe: ['bench:*'] } }, SECRET, { expiresIn: 3600 }),
          }
        : {};
    const s = io(url, { transports: ['websocket'], auth, reconnection: false });
    s.on('connect_error', (err) => fail(i, err.message));
    s.on('connect', () =>
      s.emit('join', { room: `bench:idle${i % rooms}` }, (reply) => {
        if (!reply?.ok) fail(i, `join refused: ${JSON.stringify(reply)}`);
        if (++joined === n) process.send('joined');
      }),
    );
    if (i % 200 === 199) await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function snapshot(dir, name) {
  globalThis.gc();
  globalThis.gc();
  return writeHeapSnapshot(join(dir, `${name}.heapsnapshot`));
}

/** Bytes and count of each kind of heap object (`type:name`; strings, numbers and code by type only). */
function summarize(file) {
  const s = JSON.parse(readFileSync(file, 'utf8'));
  const { node_fields: fields, node_types: nodeTypes } = s.snapshot.meta;
  const [ti, ni, si] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f));
  const byKind = new Map();
  let total = 0;
  for (let i = 0; i < s.nodes.length; i += fields.length) {
    const type = nodeTypes[0][s.nodes[i + ti]];
    const named = type === 'object' || type === 'closure' || type === 'hidden' || type === 'synthetic';
    const kind = named ? `${type}:${s.strings[s.nodes[i + ni]].slice(0, 40)}` : type;
    const size = s.nodes[i + si];
    total += size;
    const k = byKind.get(kind) ?? { count: 0, bytes: 0 };
    k.count++;
    k.bytes += size;
    byKind.set(kind, k);
  }
  return { byKind, total };
}

function report(server, n, before, after, top) {
  console.log(
    `\n${server}: ${((after.total - before.total) / n).toFixed(0)} B of heap per connection (${n} clients)`,
  );
  const rows = [];
  for (const [kind, a] of after.byKind) {
    const b = before.byKind.get(kind) ?? { count: 0, bytes: 0 };
    const bytes = (a.bytes - b.bytes) / n;
    if (Math.abs(bytes) >= 8) rows.push({ kind, bytes, count: (a.count - b.count) / n });
  }
  rows.sort((x, y) => y.bytes - x.bytes);
  for (const r of rows.slice(0, top))
    console.log(
      `${r.bytes.toFixed(0).padStart(8)} B ${r.count.toFixed(2).padStart(7)} per connection  ${r.kind}`,
    );
}
