#!/usr/bin/env node
/**
 * `npm run test:container`: proves the Dockerfile, not only that it is written.
 *
 *  1. static: docker-compose.yml parses and every service it builds uses this Dockerfile;
 *     deploy/nginx.conf passes `nginx -t`, deploy/haproxy.cfg `haproxy -c` (each only when
 *     python3-yaml / nginx / haproxy are on the machine, else SKIP).
 *  2. builds the image and runs it with production env (../shared/container/build-and-run.sh:
 *     podman, a local stand-in base image), which probes /healthz and runs the HEALTHCHECK.
 *  3. the same image without keys must refuse to start with exit code 78.
 *  4. a Socket.IO client over WebSocket and one over long-polling connect from the host with a JWT
 *     signed by the container's secret, through deploy/nginx.conf run on this machine when nginx is
 *     installed (else directly), join a room; a message published through the HTTP API
 *     (`POST /v1/publish` with the API key) reaches the WebSocket client; a late join with `since`
 *     recovers it from history.
 *  5. `podman stop` (SIGTERM): both clients get `closing {code:"shutting_down"}` and the process
 *     exits 0 well within the stop timeout; a second container with a vanished long-polling client
 *     still exits 0, after shutdownGraceMs. Containers and nginx are always removed.
 *
 * Slow (about a minute the first time, ~30 s cached), so it is not part of `npm test`.
 * Env: CONTEXT (head: the committed tree, default | worktree), CONTAINER_TOOLS (../shared/container),
 *      IMAGE (localhost/roomcast:test), BASE (node:24-bookworm-slim), NODE_VERSION (for a missing
 *      base image, 24.21.0), HOST_PORT (a free port), NO_LB=1 (clients straight to the container).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import jwt from 'jsonwebtoken';
import { io } from 'socket.io-client';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TOOLS = resolve(ROOT, process.env.CONTAINER_TOOLS ?? '../shared/container');
const IMAGE = process.env.IMAGE ?? 'localhost/roomcast:test';
const BASE = process.env.BASE ?? 'node:24-bookworm-slim';
const NODE_VERSION = process.env.NODE_VERSION ?? '24.21.0';
const SECRET = `container-test-secret-${Date.now().toString(36)}-0123456789abcdef`;
const API_KEY = `rc_container_test_${Date.now().toString(36)}`;
const CONTEXT = process.env.CONTEXT ?? 'head';
const STOP_TIMEOUT_S = 20; // more than the image's shutdownGraceMs (10 s): a hang shows as exit 137
const ROOM = 'chat:container';

const results = [];
const started = Date.now();
let container = null;
let nginx = null;
let context = null;
let stale = null;

function log(line) {
  console.log(line);
}

function record(name, status, detail = '') {
  results.push({ name, status, detail });
  log(`${status.padEnd(4)} ${name}${detail ? `: ${detail}` : ''}`);
  if (status === 'FAIL') throw new StepFailed(name);
}

class StepFailed extends Error {}

/** podman with the shared env (state under /tmp/containers, runc, capped ulimits). */
function podman(args, opts = {}) {
  return spawnSync('bash', ['-c', `. "${TOOLS}/env.sh" && exec podman "$@"`, 'podman', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    ...opts,
  });
}

function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// ---- 1. static checks --------------------------------------------------------------------------

function checkCompose() {
  const file = join(ROOT, 'docker-compose.yml');
  if (!existsSync(file)) return record('compose: docker-compose.yml', 'FAIL', 'missing');
  const py = spawnSync(
    'python3',
    ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file],
    { encoding: 'utf8' },
  );
  if (py.error || (py.status !== 0 && /No module named/.test(py.stderr))) {
    return record('compose: YAML parses', 'SKIP', 'python3 with PyYAML not installed');
  }
  if (py.status !== 0) return record('compose: YAML parses', 'FAIL', py.stderr.trim().split('\n').pop());
  const doc = JSON.parse(py.stdout);
  const services = doc?.services ?? {};
  const names = Object.keys(services);
  record('compose: YAML parses', 'PASS', `services: ${names.join(', ')}`);

  const problems = [];
  const nodes = names.filter((n) => services[n].build);
  for (const name of nodes) {
    const build = services[name].build;
    const context = typeof build === 'string' ? build : build.context;
    const dockerfile = (typeof build === 'object' && build.dockerfile) || 'Dockerfile';
    if (resolve(ROOT, context ?? '.') !== ROOT || resolve(ROOT, dockerfile) !== join(ROOT, 'Dockerfile'))
      problems.push(`${name} builds ${context}/${dockerfile}, not ./Dockerfile`);
    const env = services[name].environment ?? {};
    if (env.ROOMCAST_REDIS_URL !== 'redis://redis:6379/0') problems.push(`${name}: ROOMCAST_REDIS_URL`);
    if (env.NODE_ENV !== 'production') problems.push(`${name}: NODE_ENV is not production`);
    for (const f of [services[name].env_file ?? []].flat()) {
      const path = typeof f === 'string' ? f : f.path;
      if (!existsSync(join(ROOT, `${path}.example`)) && !existsSync(join(ROOT, path)))
        problems.push(`${name}: env_file ${path} has no ${path}.example`);
    }
    if (!services[name].healthcheck?.test) problems.push(`${name}: no health check`);
  }
  if (nodes.length < 3) problems.push(`${nodes.length} roomcast services built, expected 3`);
  if (!services.redis?.healthcheck) problems.push('redis: no health check');
  const lb = names.find((n) => /nginx|haproxy|lb|balancer/.test(n));
  if (!lb) problems.push('no load balancer service');
  record(
    'compose: services',
    problems.length ? 'FAIL' : 'PASS',
    problems.length
      ? problems.join('; ')
      : `${nodes.join(', ')} build ./Dockerfile (proven below); ${lb} in front`,
  );
}

/** The first of `names` on PATH or in /usr/sbin, or null. */
function findBin(name) {
  const r = spawnSync('bash', ['-c', `command -v ${name} || ls /usr/sbin/${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split('\n')[0] || null : null;
}

/**
 * deploy/nginx.conf for this machine: the compose service names do not resolve here, so the
 * upstreams point at loopback ports, and it listens and logs where told. Nothing else changes.
 */
function localNginxConf(dir, upstreamPort, listen) {
  const text = readFileSync(join(ROOT, 'deploy', 'nginx.conf'), 'utf8')
    .replace(
      /\bserver\s+roomcast-(\d):3000/g,
      (_, n) => `server 127.0.0.1:${upstreamPort ?? 3000 + Number(n)}`,
    )
    .replace(/\blisten\s+80;/, `listen ${listen};`)
    .replace(/\/var\/log\/nginx\//g, `${dir}/`);
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, text);
  return file;
}

function checkNginx() {
  const bin = findBin('nginx');
  if (!bin)
    return record('nginx -t deploy/nginx.conf', 'SKIP', 'nginx not installed (apt-get install nginx)');
  const dir = mkdtempSync(join(tmpdir(), 'roomcast-nginx-'));
  try {
    const file = localNginxConf(dir, null, '127.0.0.1:8080');
    const t = spawnSync(bin, ['-t', '-p', dir, '-c', file, '-g', `pid ${dir}/nginx.pid;`], {
      encoding: 'utf8',
    });
    const out = `${t.stdout}${t.stderr}`.trim().split('\n').pop();
    record('nginx -t deploy/nginx.conf', t.status === 0 ? 'PASS' : 'FAIL', out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function checkHaproxy() {
  const bin = findBin('haproxy');
  if (!bin) return record('haproxy -c deploy/haproxy.cfg', 'SKIP', 'haproxy not installed');
  const t = spawnSync(bin, ['-c', '-f', join(ROOT, 'deploy', 'haproxy.cfg')], { encoding: 'utf8' });
  // Warnings about the compose names not resolving here are expected (init-addr none).
  const out = `${t.stdout}${t.stderr}`.trim().split('\n').pop();
  record('haproxy -c deploy/haproxy.cfg', t.status === 0 ? 'PASS' : 'FAIL', out);
}

/** Runs deploy/nginx.conf on this machine in front of the container; null without nginx. */
async function startNginx(upstreamPort) {
  const bin = findBin('nginx');
  if (!bin) return null;
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'roomcast-nginx-'));
  chmodSync(dir, 0o755); // workers run as an unprivileged user
  const file = localNginxConf(dir, upstreamPort, `127.0.0.1:${port}`);
  // stderr to a file: here, without CAP_SYS_RESOURCE, workers warn that worker_rlimit_nofile fails.
  const child = spawn(
    bin,
    ['-p', dir, '-c', file, '-g', `pid ${dir}/nginx.pid; daemon off; error_log ${dir}/error.log warn;`],
    {
      stdio: 'ignore',
    },
  );
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await fetch(`${url}/nginx-health`).catch(() => null);
    if (r?.ok) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGTERM');
      throw new Error(`nginx did not start: ${readFileSync(join(dir, 'error.log'), 'utf8').slice(-300)}`);
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  return {
    url,
    logs() {
      const tail = (f) =>
        existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').split('\n').slice(-8) : [];
      return [...tail('error.log'), ...tail('access.log')].filter(Boolean).join('\n');
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((res) => child.once('exit', res));
        child.kill('SIGQUIT');
        await withTimeout(exited, 5000, 'nginx exit').catch(() => child.kill('SIGKILL'));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ---- 2. build and run --------------------------------------------------------------------------

/**
 * The build context: by default the committed tree (`git archive HEAD`), so that the proof is of
 * what is committed and not of whatever half-done work sits in the checkout; CONTEXT=worktree
 * builds the working tree as `docker build .` would (to try an uncommitted Dockerfile change).
 */
function prepareContext() {
  if (CONTEXT === 'worktree') return { dir: ROOT, label: 'the working tree (CONTEXT=worktree)', temp: false };
  const git = (args) => spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });
  const rev = git(['rev-parse', '--short', 'HEAD']).stdout.trim();
  const dir = mkdtempSync(join(tmpdir(), 'roomcast-context-'));
  const x = spawnSync('bash', ['-c', `git -C "${ROOT}" archive --format=tar HEAD | tar -x -C "${dir}"`]);
  if (x.status !== 0) throw new Error(`git archive HEAD failed: ${x.stderr}`);
  const dirty = git([
    'status',
    '--porcelain',
    '--',
    'src',
    'config',
    'public',
    'package.json',
    'package-lock.json',
    'tsconfig.json',
    'tsconfig.build.json',
    'Dockerfile',
    '.dockerignore',
  ])
    .stdout.trim()
    .split('\n')
    .filter(Boolean).length;
  const note = dirty
    ? `; ${dirty} uncommitted change(s) in build paths not included (CONTEXT=worktree to include them)`
    : '';
  return { dir, label: `committed HEAD ${rev}${note}`, temp: true };
}

function buildAndRun(hostPort, contextDir) {
  return new Promise((res, rej) => {
    const env = {
      ...process.env,
      IMAGE,
      NODE_VERSION,
      KEEP: '1',
      PROBE_PATH: '/healthz',
      HOST_PORT: String(hostPort),
      TIMEOUT: '60',
      RUN_ARGS: `-e NODE_ENV=production -e ROOMCAST_JWT_SECRET=${SECRET} -e ROOMCAST_API_KEYS=${API_KEY}`,
    };
    const child = spawn(join(TOOLS, 'build-and-run.sh'), [contextDir, BASE], { env });
    let out = '';
    const onData = (chunk) => {
      out += chunk;
      for (const line of chunk.toString().split('\n')) {
        // The build's own chatter is long; the script's `>>` lines and failures tell the story.
        if (/^(>>|FAIL|container exited|---|\s+user=)|^\{"level"/.test(line)) log(`   | ${line}`);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', rej);
    child.on('close', (code) => {
      container = /podman run -d --name (\S+)/.exec(out)?.[1] ?? null;
      if (code !== 0) {
        log('   | --- last lines of the build/run output');
        for (const line of out
          .split('\n')
          .filter((l) => !/^npm warn Unknown user config/.test(l))
          .slice(-25))
          log(`   | ${line}`);
      }
      res({ code, out });
    });
  });
}

// ---- 3. production without keys ----------------------------------------------------------------

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

// ---- 4. clients --------------------------------------------------------------------------------

function mint(sub) {
  return jwt.sign(
    {
      sub,
      rooms: { subscribe: ['chat:*'], publish: ['chat:*'], presence: ['chat:*'] },
      info: { name: sub },
    },
    SECRET,
    { algorithm: 'HS256', expiresIn: '10m' },
  );
}

function connect(url, sub, transport) {
  const socket = io(url, {
    auth: { token: mint(sub) },
    transports: [transport],
    reconnection: false,
    forceNew: true,
    timeout: 5000,
  });
  socket.label = transport;
  socket.closingEvents = [];
  socket.on('closing', (payload) => socket.closingEvents.push(payload));
  return withTimeout(
    new Promise((res, rej) => {
      socket.once('connect', () => res(socket));
      socket.once('connect_error', (err) => rej(new Error(`${sub}: connect_error ${err.message}`)));
    }),
    10_000,
    `${sub} connect`,
  );
}

function ack(socket, event, payload) {
  return socket.timeout(5000).emitWithAck(event, payload);
}

function nextEvent(socket, event, ms = 5000) {
  return withTimeout(new Promise((res) => socket.once(event, res)), ms, `"${event}" event`);
}

/** Publishes through the server HTTP API, as a backend would. */
async function publish(base) {
  const body = { room: ROOM, event: 'msg', data: { text: 'hello from outside', n: 1 } };
  const res = await fetch(`${base}/v1/publish`, {
    method: 'POST',
    headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5000),
  });
  const reply = await res.json().catch(() => null);
  const r = reply?.results?.[0];
  return {
    ok: res.status === 200 && reply?.ok === true && r?.offset >= 1,
    detail: `HTTP ${res.status} ${JSON.stringify(r ?? reply)}`,
  };
}

async function clientChecks(direct, lb) {
  for (const path of ['/healthz', '/readyz']) {
    const r = await fetch(`${direct}${path}`, { signal: AbortSignal.timeout(5000) });
    record(`GET ${path} from the host`, r.status === 200 ? 'PASS' : 'FAIL', `HTTP ${r.status}`);
  }
  const metrics = await fetch(`${direct}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await metrics.text();
  const families = text.split('\n').filter((l) => l.startsWith('# TYPE ')).length;
  record(
    'GET /metrics on the node (Prometheus)',
    metrics.ok && families > 0 ? 'PASS' : 'FAIL',
    `HTTP ${metrics.status}, ${families} metric families`,
  );
  const front = lb?.url ?? direct;
  const via = lb ? ' via nginx (deploy/nginx.conf)' : ' direct (no nginx here)';
  if (lb) {
    const h = await fetch(`${front}/healthz`, { signal: AbortSignal.timeout(5000) });
    const m = await fetch(`${front}/metrics`, { signal: AbortSignal.timeout(5000) });
    const good = h.status === 200 && m.status === 404;
    record('nginx proxies /healthz, hides /metrics', good ? 'PASS' : 'FAIL', `${h.status}, ${m.status}`);
  }

  const ws = await connect(front, 'ws-client', 'websocket');
  const poll = await connect(front, 'polling-client', 'polling');
  record(`clients connect with a JWT${via}`, 'PASS', `websocket ${ws.id}, polling ${poll.id}`);

  const joined = await ack(ws, 'join', { room: ROOM });
  record('join', joined?.ok ? 'PASS' : 'FAIL', JSON.stringify(joined));

  const incoming = nextEvent(ws, 'message');
  const pub = await publish(front);
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

// ---- 5. SIGTERM --------------------------------------------------------------------------------

function podmanAsync(args) {
  return new Promise((res) => {
    const child = spawn('bash', ['-c', `. "${TOOLS}/env.sh" && exec podman "$@"`, 'podman', ...args]);
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (status) => res({ status, stderr }));
  });
}

async function checkDrain(clients) {
  const disconnected = clients.map((s) => nextEvent(s, 'disconnect', 30_000).catch(() => 'none'));
  const t = Date.now();
  const stop = await podmanAsync(['stop', '-t', String(STOP_TIMEOUT_S), container]);
  const took = ((Date.now() - t) / 1000).toFixed(1);
  const reasons = await Promise.all(disconnected);
  const code = podman(['inspect', '--format', '{{.State.ExitCode}}', container]).stdout.trim();
  const logs = podman(['logs', container]).stdout;
  const drained = /"msg":"draining"/.test(logs);
  record(
    'podman stop (SIGTERM) exits 0',
    stop.status === 0 && code === '0' && Number(took) < STOP_TIMEOUT_S ? 'PASS' : 'FAIL',
    `exit code ${code} after ${took}s (timeout ${STOP_TIMEOUT_S}s); "draining" logged: ${drained}`,
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
 * A long-polling client that vanished (its process killed) is still counted by the server until
 * Socket.IO's ping timeout, so the drain waits the whole shutdownGraceMs for it. The process must
 * still exit 0 within the grace period: the stop timeout has to be longer than it.
 */
async function checkDrainWithVanishedClient() {
  const port = await freePort();
  const name = `roomcast-test-stale-${process.pid}`;
  const run = podman([
    'run',
    '-d',
    '--name',
    name,
    '--health-interval=disable',
    '-p',
    `127.0.0.1:${port}:3000`,
    '-e',
    'NODE_ENV=production',
    '-e',
    `ROOMCAST_JWT_SECRET=${SECRET}`,
    '-e',
    `ROOMCAST_API_KEYS=${API_KEY}`,
    IMAGE,
  ]);
  if (run.status !== 0) return record('drain with a vanished polling client', 'FAIL', run.stderr.trim());
  stale = name;
  const base = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (!(await fetch(`${base}/healthz`).catch(() => null))?.ok) {
    if (Date.now() > deadline) return record('drain with a vanished polling client', 'FAIL', 'no /healthz');
    await new Promise((res) => setTimeout(res, 200));
  }
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
  const t = Date.now();
  const stop = await podmanAsync(['stop', '-t', String(STOP_TIMEOUT_S), name]);
  const took = (Date.now() - t) / 1000;
  const exit = podman(['inspect', '--format', '{{.State.ExitCode}}', name]).stdout.trim();
  record(
    'drain with a vanished polling client exits 0',
    stop.status === 0 && exit === '0' && took < STOP_TIMEOUT_S ? 'PASS' : 'FAIL',
    `exit code ${exit} after ${took.toFixed(1)}s: the drain waits out shutdownGraceMs (10 s), so a stop ` +
      "timeout of 10 s (docker stop's default) would SIGKILL it; compose sets stop_grace_period: 20s",
  );
}

// ---- main --------------------------------------------------------------------------------------

async function main() {
  log(`roomcast container test: ${BASE} -> ${IMAGE}`);
  checkCompose();
  checkNginx();
  checkHaproxy();

  if (spawnSync('bash', ['-c', 'command -v podman'], { encoding: 'utf8' }).status !== 0)
    return record('podman', 'FAIL', `not installed: run ${TOOLS}/install.sh once`);
  const hostPort = Number(process.env.HOST_PORT) || (await freePort());
  const t = Date.now();
  context = prepareContext();
  log(`info building ${context.label}`);
  const built = await buildAndRun(hostPort, context.dir);
  const size = podman(['image', 'inspect', '--format', '{{.Size}}', IMAGE]).stdout.trim();
  record(
    'build, run with production env, /healthz, HEALTHCHECK',
    built.code === 0 && container ? 'PASS' : 'FAIL',
    `${((Date.now() - t) / 1000).toFixed(0)}s; image ${(Number(size) / 1e6).toFixed(0)} MB; container ${container}`,
  );
  const user = podman(['exec', container, 'id', '-un']).stdout.trim();
  record('process runs as non-root', user && user !== 'root' ? 'PASS' : 'FAIL', `user ${user || '?'}`);
  checkRefusesWithoutKeys();

  nginx = process.env.NO_LB ? null : await startNginx(hostPort);
  const clients = await clientChecks(`http://127.0.0.1:${hostPort}`, nginx);
  await checkDrain(clients);
  await checkDrainWithVanishedClient();
}

async function cleanup() {
  await nginx?.stop();
  nginx = null;
  if (stale) podman(['rm', '-f', '-t', '0', stale], { timeout: 30_000 });
  stale = null;
  if (context?.temp) rmSync(context.dir, { recursive: true, force: true });
  context = null;
  if (!container) return;
  const r = podman(['rm', '-f', container], { timeout: 30_000 });
  log(`info removed container ${container}${r.status === 0 ? '' : ` (rm: ${r.stderr.trim()})`}`);
  container = null;
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  if (!(err instanceof StepFailed)) log(`FAIL ${err?.stack ?? err}`);
  if (nginx) log(`--- nginx logs (tail)\n${nginx.logs()}`);
  if (container) {
    log('--- container logs (tail)');
    log(podman(['logs', '--tail', '30', container]).stdout ?? '');
  }
} finally {
  await cleanup();
}
const counts = (s) => results.filter((r) => r.status === s).length;
const secs = ((Date.now() - started) / 1000).toFixed(0);
failed ||= counts('FAIL') > 0;
log(
  `\ntest:container: ${failed ? 'FAIL' : 'PASS'} (${counts('PASS')} passed, ${counts('FAIL')} failed, ` +
    `${counts('SKIP')} skipped, ${secs}s)`,
);
process.exit(failed ? 1 : 0);
