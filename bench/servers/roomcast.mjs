/**
 * roomcast under test: `createBroker` from the built `dist/`, with the default config (auth,
 * rights, history and presence on) plus what the bench passes in `BENCH_CONFIG` (JSON merged
 * as a ROOMCAST_CONFIG file) and `BENCH_REDIS_URL`.
 *
 * `roomcast:NAME` runs the build at ROOMCAST_DIST_NAME instead of dist/ (two builds in one run).
 *
 * `BENCH_ABLATE` (a target like `roomcast/no-metrics/no-ratelimit`) switches parts off, only to find
 * out what each costs; the figures that count are those of plain `roomcast`:
 *   no-metrics    prom-client counters and histograms do nothing
 *   no-ratelimit  the per-connection event limiter always allows
 *   no-history    no room keeps history (offsets still count)
 *   no-sendqueue  connections carry no send-queue count (limits.sendQueueBytes' packetCreate listener)
 *   no-jwt        tokens are decoded, not verified (jsonwebtoken's verify replaced by its decode)
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runServer } from './harness.mjs';

// `roomcast:NAME` targets (bench/lib/setup.mjs) run another build, from ROOMCAST_DIST.
const { createBroker, loadConfig } = await import(process.env.ROOMCAST_DIST ?? '../../dist/index.js');

const ablate = new Set((process.env.BENCH_ABLATE || '').split('/').filter(Boolean));
const KNOWN = ['no-metrics', 'no-ratelimit', 'no-history', 'no-sendqueue', 'no-jwt'];
for (const a of ablate) if (!KNOWN.includes(a)) throw new Error(`unknown ablation "${a}"`);

if (ablate.has('no-metrics')) {
  const prom = await import('prom-client');
  prom.Counter.prototype.incWithoutExemplar = () => undefined;
  prom.Histogram.prototype.observeWithoutExemplar = () => undefined;
}
if (ablate.has('no-jwt')) {
  const { default: jwt } = await import('jsonwebtoken');
  jwt.verify = (token) => jwt.decode(token);
}
if (ablate.has('no-ratelimit')) {
  const { TokenBucket } = await import('limiter');
  TokenBucket.prototype.tryRemoveTokens = () => true;
}

await runServer(async () => {
  const file = join(mkdtempSync(join(tmpdir(), 'roomcast-bench-')), 'config.json');
  const overrides = JSON.parse(process.env.BENCH_CONFIG || '{}');
  if (ablate.has('no-history')) overrides.namespaces = { '/': { history: [] } };
  writeFileSync(file, JSON.stringify({ host: '127.0.0.1', port: 0, logLevel: 'silent', ...overrides }));
  const env = {
    ROOMCAST_JWT_SECRET: process.env.BENCH_SECRET,
    ROOMCAST_API_KEYS: process.env.BENCH_API_KEY,
    ROOMCAST_CONFIG: file,
  };
  if (process.env.BENCH_REDIS_URL) env.ROOMCAST_REDIS_URL = process.env.BENCH_REDIS_URL;
  const broker = await createBroker(loadConfig(env));
  if (ablate.has('no-sendqueue')) {
    // Runs after roomcast's own connection handler, which added the listener.
    broker.io.of('/').on('connection', (socket) => socket.conn.removeAllListeners('packetCreate'));
  }
  const { port } = await broker.listen();
  return { port, close: () => broker.close(), clients: () => broker.io.engine.clientsCount };
});
