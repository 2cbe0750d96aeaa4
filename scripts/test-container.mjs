#!/usr/bin/env node
/**
 * `npm run test:container`: proves the Dockerfile, not only that it is written.
 *
 *  1. deployment files: docker-compose.yml parses and every service it builds uses this Dockerfile;
 *     deploy/nginx.conf passes `nginx -t`, deploy/haproxy.cfg `haproxy -c` (each only when
 *     python3-yaml / nginx / haproxy are on the machine, else SKIP).
 *  2. builds the image and runs it with production env (../shared/container/build-and-run.sh:
 *     podman and a local stand-in base image), which probes /healthz and runs the HEALTHCHECK;
 *     run as compose runs it (read-only root, no capabilities, no-new-privileges); the process is
 *     not root; the image without keys refuses to start with exit code 78.
 *  3. a Socket.IO client over WebSocket and one over long-polling connect from the host with a JWT
 *     signed with the container's secret, through deploy/nginx.conf run on this machine (directly
 *     without nginx), join a room; a message published with `POST /v1/publish` and the API key
 *     reaches the WebSocket client; a late join with `since` recovers it from history.
 *  4. `podman stop` (SIGTERM): both clients get `closing {code:"shutting_down"}` and the process
 *     exits 0; a second container with a vanished long-polling client still exits 0, after
 *     shutdownGraceMs.
 *  5. the compose topology (scripts/container/cluster.mjs): redis-server + three containers in
 *     cluster mode + nginx; fan-out across nodes, then a rolling restart with recovery.
 * Containers, nginx and redis-server are always removed. Slow (about a minute the first time), so
 * it is not part of `npm test`.
 *
 * Env: CONTEXT (head: the committed tree, default | worktree), CONTAINER_TOOLS (../shared/container),
 *      IMAGE (localhost/roomcast:test), BASE (node:24-bookworm-slim), NODE_VERSION (for a missing
 *      base image, 24.21.0), HOST_PORT (a free port), NO_LB=1 (clients straight to the container),
 *      NO_CLUSTER=1 (skip stage 5).
 */
import { spawnSync } from 'node:child_process';
import { ack, connect, mint, nextEvent, publish } from './container/clients.mjs';
import { clusterChecks } from './container/cluster.mjs';
import { checkCompose, checkHaproxy, checkNginx, startNginx } from './container/deploy-checks.mjs';
import {
  API_KEY,
  BASE,
  freePort,
  HARDENING,
  IMAGE,
  log,
  onCleanup,
  podman,
  printFailureReports,
  ROOT,
  record,
  results,
  runCleanups,
  SECRET,
  StepFailed,
  stopContainer,
  waitForHttp,
} from './container/harness.mjs';
import { buildAndRun, imageSizeMb, prepareContext } from './container/image.mjs';

const ROOM = 'chat:container';

function checkRefusesWithoutKeys() {
  const r = podman(['run', '--rm', '--health-interval=disable', '-e', 'NODE_ENV=production', IMAGE], {
    timeout: 60_000,
  });
  const msg = `${r.stdout}${r.stderr}`.split('\n').find((l) => l.includes('config error')) ?? '';
  record(
    'production without keys exits 78',
    r.status === 78 && msg ? 'PASS' : 'FAIL',
    `exit ${r.status}; ${msg.trim() || r.stderr.trim().slice(-200)}`,
  );
}

async function httpChecks(direct, lb) {
  for (const path of ['/healthz', '/readyz']) {
    const r = await fetch(`${direct}${path}`, { signal: AbortSignal.timeout(5000) });
    record(`GET ${path} from the host`, r.status === 200 ? 'PASS' : 'FAIL', `HTTP ${r.status}`);
  }
  const metrics = await fetch(`${direct}/metrics`, { signal: AbortSignal.timeout(5000) });
  const families = (await metrics.text()).split('\n').filter((l) => l.startsWith('# TYPE ')).length;
  record(
    'GET /metrics on the node (Prometheus)',
    metrics.ok && families > 0 ? 'PASS' : 'FAIL',
    `HTTP ${metrics.status}, ${families} metric families`,
  );
  if (lb) {
    const h = await fetch(`${lb.url}/healthz`, { signal: AbortSignal.timeout(5000) });
    const m = await fetch(`${lb.url}/metrics`, { signal: AbortSignal.timeout(5000) });
    const good = h.status === 200 && m.status === 404;
    record('nginx proxies /healthz, hides /metrics', good ? 'PASS' : 'FAIL', `${h.status}, ${m.status}`);
  }
}

async function clientChecks(front, via) {
  const ws = await connect(front, 'ws-client', 'websocket');
  const poll = await connect(front, 'polling-client', 'polling');
  record(`clients connect with a JWT ${via}`, 'PASS', `websocket ${ws.id}, polling ${poll.id}`);

  const joined = await ack(ws, 'join', { room: ROOM });
  record('join', joined?.ok ? 'PASS' : 'FAIL', JSON.stringify(joined));

  const incoming = nextEvent(ws, 'message');
  const pub = await publish(front, ROOM, { text: 'hello from outside', n: 1 });
  record('publish with the API key: POST /v1/publish', pub.ok ? 'PASS' : 'FAIL', pub.detail);
  const msg = await incoming;
  const good = msg?.room === ROOM && msg.data?.text === 'hello from outside' && msg.offset >= 1;
  record('message back on the WebSocket client', good ? 'PASS' : 'FAIL', JSON.stringify(msg));

  const late = await ack(poll, 'join', { room: ROOM, since: { offset: 0, epoch: msg.epoch } });
  const recovered = late?.ok && late.messages?.some((m) => m.id === msg.id);
  record(
    'late join with since recovers it (polling)',
    recovered ? 'PASS' : 'FAIL',
    `recovered=${late?.recovered}`,
  );
  return [ws, poll];
}

async function checkDrain(container, clients) {
  const disconnected = clients.map((s) => nextEvent(s, 'disconnect', 30_000).catch(() => 'none'));
  const stop = await stopContainer(container);
  const reasons = await Promise.all(disconnected);
  const drained = /"msg":"draining"/.test(podman(['logs', container]).stdout);
  record(
    'podman stop (SIGTERM) exits 0',
    stop.ok ? 'PASS' : 'FAIL',
    `exit code ${stop.exitCode} after ${stop.seconds.toFixed(1)}s; "draining" logged: ${drained}`,
  );
  clients.forEach((s, i) => {
    const got = s.closingEvents[0];
    record(
      `closing received (${s.label})`,
      got?.code === 'shutting_down' ? 'PASS' : 'FAIL',
      `${JSON.stringify(got ?? null)}, then disconnect: ${reasons[i]}`,
    );
  });
}

/**
 * A long-polling client that vanished (its process killed) is counted by the server until
 * Socket.IO's ping timeout, so the drain waits out shutdownGraceMs for it. The process must still
 * exit 0, which needs a stop timeout longer than the grace period.
 */
async function checkDrainWithVanishedClient() {
  const name = `roomcast-test-vanished-${process.pid}`;
  const port = await freePort();
  const env = [
    '-e',
    'NODE_ENV=production',
    '-e',
    `ROOMCAST_JWT_SECRET=${SECRET}`,
    '-e',
    `ROOMCAST_API_KEYS=${API_KEY}`,
    '-e',
    'ROOMCAST_ALLOWED_ORIGINS=https://app.example.com',
  ];
  const run = podman([
    'run',
    '-d',
    '--name',
    name,
    '--health-interval=disable',
    ...HARDENING,
    '-p',
    `127.0.0.1:${port}:3000`,
    ...env,
    IMAGE,
  ]);
  onCleanup(() => podman(['rm', '-f', '-t', '0', name], { timeout: 30_000 }));
  const base = `http://127.0.0.1:${port}`;
  if (run.status !== 0 || !(await waitForHttp(`${base}/healthz`)))
    return record('drain with a vanished polling client', 'FAIL', run.stderr.trim() || 'no /healthz');
  const code = `import { io } from 'socket.io-client';
    const s = io(${JSON.stringify(base)}, { auth: { token: ${JSON.stringify(mint('vanishing'))} }, transports: ['polling'], reconnection: false });
    s.on('connect', () => process.kill(process.pid, 'SIGKILL'));
    s.on('connect_error', (e) => { console.error(e.message); process.exit(1); });`;
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    cwd: ROOT,
    timeout: 15_000,
    encoding: 'utf8',
  });
  if (child.signal !== 'SIGKILL')
    return record('drain with a vanished polling client', 'FAIL', `client: ${child.stderr}`);
  const stop = await stopContainer(name);
  record(
    'drain with a vanished polling client exits 0',
    stop.ok ? 'PASS' : 'FAIL',
    `exit code ${stop.exitCode} after ${stop.seconds.toFixed(1)}s: the drain waits out shutdownGraceMs (10 s), ` +
      "so docker stop's default 10 s timeout would SIGKILL it; compose sets stop_grace_period: 20s",
  );
}

async function main() {
  log(`roomcast container test: ${BASE} -> ${IMAGE}`);
  checkCompose();
  checkNginx();
  checkHaproxy();

  if (spawnSync('bash', ['-c', 'command -v podman']).status !== 0)
    return record('podman', 'FAIL', 'not installed: run ../shared/container/install.sh once');
  const hostPort = Number(process.env.HOST_PORT) || (await freePort());
  const t = Date.now();
  const context = prepareContext();
  log(`info building ${context.label}`);
  const { code, container } = await buildAndRun(context.dir, hostPort);
  record(
    'build, run with production env, /healthz, HEALTHCHECK',
    code === 0 && container ? 'PASS' : 'FAIL',
    `${((Date.now() - t) / 1000).toFixed(0)}s; image ${imageSizeMb()} MB; container ${container}`,
  );
  const user = podman(['exec', container, 'id', '-un']).stdout.trim();
  record('process runs as non-root', user && user !== 'root' ? 'PASS' : 'FAIL', `user ${user || '?'}`);
  checkRefusesWithoutKeys();

  const direct = `http://127.0.0.1:${hostPort}`;
  const lb = process.env.NO_LB ? null : await startNginx(() => hostPort);
  await httpChecks(direct, lb);
  const clients = await clientChecks(lb?.url ?? direct, lb ? 'via nginx (deploy/nginx.conf)' : 'directly');
  await checkDrain(container, clients);
  await checkDrainWithVanishedClient();

  if (process.env.NO_CLUSTER) record('cluster: three nodes behind nginx', 'SKIP', 'NO_CLUSTER set');
  else await clusterChecks(context.dir);
}

const started = Date.now();
let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  if (!(err instanceof StepFailed)) log(`FAIL ${err?.stack ?? err}`);
  printFailureReports();
} finally {
  await runCleanups();
}
const count = (s) => results.filter((r) => r.status === s).length;
failed ||= count('FAIL') > 0;
log(
  `\ntest:container: ${failed ? 'FAIL' : 'PASS'} (${count('PASS')} passed, ${count('FAIL')} failed, ` +
    `${count('SKIP')} skipped, ${((Date.now() - started) / 1000).toFixed(0)}s)`,
);
process.exit(failed ? 1 : 0);
