/**
 * The deployment files next to the Dockerfile: docker-compose.yml (parsed with PyYAML when it is
 * there; no compose engine runs here), deploy/nginx.conf (`nginx -t`, and run for real in front of
 * the containers) and deploy/haproxy.cfg (`haproxy -c`). A missing tool is a SKIP, not a PASS.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  findBin,
  freePort,
  log,
  onCleanup,
  onFailure,
  ROOT,
  record,
  sleep,
  withTimeout,
} from './harness.mjs';

export function checkCompose() {
  const file = join(ROOT, 'docker-compose.yml');
  if (!existsSync(file)) return record('compose: docker-compose.yml', 'FAIL', 'missing');
  const py = spawnSync(
    'python3',
    ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', file],
    { encoding: 'utf8' },
  );
  if (py.error || (py.status !== 0 && /No module named/.test(py.stderr)))
    return record('compose: YAML parses', 'SKIP', 'python3 with PyYAML not installed');
  if (py.status !== 0) return record('compose: YAML parses', 'FAIL', py.stderr.trim().split('\n').pop());
  const services = JSON.parse(py.stdout)?.services ?? {};
  const names = Object.keys(services);
  record('compose: YAML parses', 'PASS', `services: ${names.join(', ')}`);

  const nodes = names.filter((n) => services[n].build);
  const problems = nodes.flatMap((name) => nodeProblems(name, services[name]));
  if (nodes.length < 3) problems.push(`${nodes.length} roomcast services built, expected 3`);
  if (!services.redis?.healthcheck) problems.push('redis: no health check');
  const lb = names.find((n) => /nginx|haproxy|balancer/.test(n));
  if (!lb) problems.push('no load balancer service');
  record(
    'compose: services',
    problems.length ? 'FAIL' : 'PASS',
    problems.length
      ? problems.join('; ')
      : `${nodes.join(', ')} build ./Dockerfile (proven below); ${lb} in front`,
  );
}

function nodeProblems(name, service) {
  const problems = [];
  const build = service.build;
  const context = typeof build === 'string' ? build : build.context;
  const dockerfile = (typeof build === 'object' && build.dockerfile) || 'Dockerfile';
  if (
    resolve(ROOT, context ?? '.') !== ROOT ||
    resolve(ROOT, context ?? '.', dockerfile) !== join(ROOT, 'Dockerfile')
  )
    problems.push(`${name} builds ${context}/${dockerfile}, not ./Dockerfile`);
  const env = service.environment ?? {};
  if (env.ROOMCAST_REDIS_URL !== 'redis://redis:6379/0') problems.push(`${name}: ROOMCAST_REDIS_URL`);
  if (env.NODE_ENV !== 'production') problems.push(`${name}: NODE_ENV is not production`);
  for (const f of [service.env_file ?? []].flat()) {
    const path = typeof f === 'string' ? f : f.path;
    if (!existsSync(join(ROOT, `${path}.example`)))
      problems.push(`${name}: env_file ${path} has no ${path}.example`);
  }
  for (const v of service.volumes ?? []) {
    const source = String(v).split(':')[0];
    if (source.startsWith('./') && !existsSync(join(ROOT, source))) problems.push(`${name}: no ${source}`);
  }
  if (!service.healthcheck?.test) problems.push(`${name}: no health check`);
  return problems;
}

/**
 * deploy/nginx.conf for this machine: the compose names do not resolve here, so upstream
 * `roomcast-N:3000` becomes `127.0.0.1:<port(N)>`; it listens and logs where told. Nothing else
 * changes.
 */
function localNginxConf(dir, port, listen) {
  const text = readFileSync(join(ROOT, 'deploy', 'nginx.conf'), 'utf8')
    .replace(/\bserver\s+roomcast-(\d):3000/g, (_, n) => `server 127.0.0.1:${port(Number(n))}`)
    .replace(/\blisten\s+80;/, `listen ${listen};`)
    .replace(/\/var\/log\/nginx\//g, `${dir}/`);
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, text);
  return file;
}

export function checkNginx() {
  const bin = findBin('nginx');
  if (!bin)
    return record('nginx -t deploy/nginx.conf', 'SKIP', 'nginx not installed (apt-get install nginx)');
  const dir = mkdtempSync(join(tmpdir(), 'roomcast-nginx-'));
  try {
    const file = localNginxConf(dir, (n) => 3000 + n, '127.0.0.1:8080');
    const t = spawnSync(bin, ['-t', '-p', dir, '-c', file, '-g', `pid ${dir}/nginx.pid;`], {
      encoding: 'utf8',
    });
    const out = `${t.stdout}${t.stderr}`.trim().split('\n').pop();
    record('nginx -t deploy/nginx.conf', t.status === 0 ? 'PASS' : 'FAIL', out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function checkHaproxy() {
  const bin = findBin('haproxy');
  if (!bin) return record('haproxy -c deploy/haproxy.cfg', 'SKIP', 'haproxy not installed');
  const t = spawnSync(bin, ['-c', '-f', join(ROOT, 'deploy', 'haproxy.cfg')], { encoding: 'utf8' });
  // Warnings that the compose names do not resolve here are expected (init-addr none).
  const out = `${t.stdout}${t.stderr}`.trim().split('\n').pop();
  record('haproxy -c deploy/haproxy.cfg', t.status === 0 ? 'PASS' : 'FAIL', out);
}

/**
 * Runs deploy/nginx.conf on this machine, upstream N at `port(N)`; null without nginx. Stopped by
 * the cleanup. `logs()` is for failure reports.
 */
export async function startNginx(port) {
  const bin = findBin('nginx');
  if (!bin) return null;
  const listen = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'roomcast-nginx-'));
  chmodSync(dir, 0o755); // workers run as an unprivileged user
  const file = localNginxConf(dir, port, `127.0.0.1:${listen}`);
  // Here, without CAP_SYS_RESOURCE, the workers warn that worker_rlimit_nofile fails: to the log file.
  const child = spawn(
    bin,
    ['-p', dir, '-c', file, '-g', `pid ${dir}/nginx.pid; daemon off; error_log ${dir}/error.log warn;`],
    { stdio: 'ignore' },
  );
  const lb = {
    url: `http://127.0.0.1:${listen}`,
    logs() {
      const tail = (f) =>
        existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').split('\n').slice(-8) : [];
      return [...tail('error.log'), ...tail('access.log')].filter(Boolean).join('\n');
    },
  };
  onFailure('nginx logs (tail)', () => lb.logs());
  onCleanup(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((res) => child.once('exit', res));
      child.kill('SIGQUIT');
      await withTimeout(exited, 5000, 'nginx exit').catch(() => child.kill('SIGKILL'));
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 10_000;
  while (!(await fetch(`${lb.url}/nginx-health`).catch(() => null))?.ok) {
    if (Date.now() > deadline || child.exitCode !== null) {
      log(lb.logs());
      throw new Error('nginx did not start');
    }
    await sleep(100);
  }
  return lb;
}
