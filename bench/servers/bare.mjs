/**
 * Bare Socket.IO, the baseline: no auth, no rights, no offsets, no history, no presence.
 * `join` puts the socket in a room; `publish` is `io.to(room).emit('message', data)` and an ack,
 * the least a broker does. `POST /publish` does the same from HTTP, and `POST /batch`
 * (`{ messages: [{ room, data }] }`) one `io.to(room).emit` per message of one request. With `BENCH_REDIS_URL` it
 * uses the stock `@socket.io/redis-adapter` (classic `createAdapter` over ioredis).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Server } from 'socket.io';
import { runServer } from './harness.mjs';

// `bare/with-roomcast-loaded`: the same bare server, in a process that has also loaded and started
// a roomcast broker (idle, no clients), to see how much of a gap the bigger process alone makes.
if ((process.env.BENCH_ABLATE ?? '').split('/').includes('with-roomcast-loaded')) {
  const { createBroker, loadConfig } = await import('../../dist/index.js');
  const file = join(mkdtempSync(join(tmpdir(), 'roomcast-bench-')), 'config.json');
  writeFileSync(file, JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'silent' }));
  const env = {
    ROOMCAST_JWT_SECRET: process.env.BENCH_SECRET,
    ROOMCAST_API_KEYS: process.env.BENCH_API_KEY,
    ROOMCAST_CONFIG: file,
  };
  await (await createBroker(loadConfig(env))).listen();
}

await runServer(async () => {
  let io;
  const http = createServer((req, res) => {
    if (req.method !== 'POST' || (req.url !== '/publish' && req.url !== '/batch')) {
      res.writeHead(404).end();
      return;
    }
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        res.writeHead(400).end();
        return;
      }
      if (req.url === '/batch') {
        for (const m of body.messages) io.to(m.room).emit('message', m.data);
      } else io.to(body.room).emit('message', body.data);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  const closers = [];
  let adapter;
  if (process.env.BENCH_REDIS_URL) {
    const { Redis } = await import('ioredis');
    const { createAdapter } = await import('@socket.io/redis-adapter');
    const pub = new Redis(process.env.BENCH_REDIS_URL);
    const sub = pub.duplicate();
    for (const c of [pub, sub]) c.on('error', () => undefined);
    adapter = createAdapter(pub, sub);
    closers.push(
      () => pub.quit(),
      () => sub.quit(),
    );
  }
  io = new Server(http, adapter ? { adapter } : {});
  io.on('connection', (socket) => {
    socket.on('join', (req, ack) => {
      socket.join(req.room);
      ack?.({ ok: true });
    });
    socket.on('publish', (req, ack) => {
      io.to(req.room).emit('message', req.data);
      ack?.({ ok: true });
    });
  });
  // The same accept backlog as roomcast's (4096; Node's default is 511), so a storm's connects
  // are not dropped by one kernel queue and not the other.
  await new Promise((resolve) => http.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, resolve));
  return {
    port: http.address().port,
    clients: () => io.engine.clientsCount,
    close: async () => {
      await new Promise((resolve) => io.close(() => resolve()));
      await Promise.allSettled(closers.map((c) => c()));
    },
  };
});
