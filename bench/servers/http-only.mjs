/**
 * One server of `bench/http-request.mjs`, started as a child process: `roomcast` (createBroker from
 * the built dist/, or from `ROOMCAST_DIST`, a copy of another build), `fastify` (a bare fastify
 * route that answers like roomcast's), or `plain` (node:http, as bench/servers/bare.mjs answers).
 * It sends `{ port }` to its parent once listening, and exits on SIGTERM.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const kind = process.argv[2];
let port;
if (kind === 'roomcast') {
  const dist = process.env.ROOMCAST_DIST ?? '../../dist/index.js';
  const { createBroker, loadConfig } = await import(dist);
  const file = join(mkdtempSync(join(tmpdir(), 'roomcast-http-')), 'config.json');
  // The rate limit out of the way: the bench sends thousands of requests a second with one key.
  const config = { host: '127.0.0.1', port: 0, logLevel: 'silent', api: { rateLimitPerSecond: 1_000_000 } };
  writeFileSync(file, JSON.stringify(config));
  const env = {
    ROOMCAST_JWT_SECRET: 'bench-secret-0123456789abcdef0123',
    ROOMCAST_API_KEYS: process.env.BENCH_API_KEY,
    ROOMCAST_CONFIG: file,
  };
  const broker = await createBroker(loadConfig(env));
  ({ port } = await broker.listen());
} else if (kind === 'fastify') {
  const { default: Fastify } = await import('fastify');
  const app = Fastify();
  app.post('/v1/publish', async (req) => ({
    ok: true,
    results: [{ room: req.body.room, offset: 1, epoch: 'e' }],
  }));
  await app.listen({ port: 0, host: '127.0.0.1' });
  port = app.server.address().port;
} else if (kind === 'plain') {
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      JSON.parse(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = server.address().port;
} else throw new Error(`unknown server "${kind}"`);
process.on('SIGTERM', () => process.exit(0));
process.send({ port });
