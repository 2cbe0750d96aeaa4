/**
 * Building the image and starting the first container through ../shared/container/build-and-run.sh
 * (podman, the local stand-in base image), which also probes /healthz and runs the HEALTHCHECK.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  API_KEY,
  BASE,
  HARDENING,
  IMAGE,
  log,
  NODE_VERSION,
  onCleanup,
  onFailure,
  podman,
  ROOT,
  SECRET,
  TOOLS,
} from './harness.mjs';

const BUILD_PATHS = ['src', 'config', 'public', 'scripts', 'package.json', 'package-lock.json'];

/**
 * The build context: by default the committed tree (`git archive HEAD`), so that the proof is of
 * what is committed and not of half-done work in the checkout; CONTEXT=worktree builds the working
 * tree as `docker build .` would (to try an uncommitted change).
 */
export function prepareContext(mode = process.env.CONTEXT ?? 'head') {
  if (mode === 'worktree') return { dir: ROOT, label: 'the working tree (CONTEXT=worktree)' };
  const git = (args) => spawnSync('git', ['-C', ROOT, ...args], { encoding: 'utf8' });
  const rev = git(['rev-parse', '--short', 'HEAD']).stdout.trim();
  const dir = mkdtempSync(join(tmpdir(), 'roomcast-context-'));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const x = spawnSync('bash', ['-c', `git -C "${ROOT}" archive --format=tar HEAD | tar -x -C "${dir}"`]);
  if (x.status !== 0) throw new Error(`git archive HEAD failed: ${x.stderr}`);
  const paths = [...BUILD_PATHS, 'tsconfig.json', 'tsconfig.build.json', 'Dockerfile', '.dockerignore'];
  const dirty = git(['status', '--porcelain', '--', ...paths])
    .stdout.split('\n')
    .filter(Boolean).length;
  const note = dirty ? `; ${dirty} uncommitted change(s) in build paths left out (CONTEXT=worktree)` : '';
  return { dir, label: `committed HEAD ${rev}${note}` };
}

/**
 * Builds IMAGE from `contextDir` and leaves one container running with production env on
 * 127.0.0.1:hostPort. Resolves `{ code, container }`; the container is removed by the cleanup.
 */
export function buildAndRun(contextDir, hostPort) {
  return new Promise((res, rej) => {
    const env = {
      ...process.env,
      IMAGE,
      NODE_VERSION,
      KEEP: '1',
      PROBE_PATH: '/healthz',
      HOST_PORT: String(hostPort),
      TIMEOUT: '60',
      RUN_ARGS: `${HARDENING.join(' ')} -e NODE_ENV=production -e ROOMCAST_JWT_SECRET=${SECRET} -e ROOMCAST_API_KEYS=${API_KEY} -e ROOMCAST_ALLOWED_ORIGINS=https://app.example.com`,
    };
    const child = spawn(join(TOOLS, 'build-and-run.sh'), [contextDir, BASE], { env });
    let out = '';
    const follow = () => {
      let partial = '';
      return (chunk) => {
        out += chunk;
        const lines = (partial + chunk).split('\n');
        partial = lines.pop();
        for (const line of lines) {
          // The build's own chatter is long; the script's `>>` lines and failures tell the story.
          if (/^(>>|FAIL|container exited|---|\s+user=)|^\{"level"/.test(line)) log(`   | ${line}`);
        }
      };
    };
    child.stdout.on('data', follow());
    child.stderr.on('data', follow());
    child.on('error', rej);
    child.on('close', (code) => {
      const container = /podman run -d --name (\S+)/.exec(out)?.[1] ?? null;
      if (container) {
        onCleanup(() => removeContainer(container));
        onFailure(`logs of ${container}`, () => containerLogs(container));
      }
      if (code !== 0) {
        log('   | --- last lines of the build/run output');
        const lines = out.split('\n').filter((l) => !/^npm warn Unknown user config/.test(l));
        for (const line of lines.slice(-25)) log(`   | ${line}`);
      }
      res({ code, container });
    });
  });
}

export function removeContainer(name) {
  const r = podman(['rm', '-f', '-t', '0', name], { timeout: 30_000 });
  log(`info removed container ${name}${r.status === 0 ? '' : ` (rm: ${r.stderr.trim()})`}`);
}

export function containerLogs(name) {
  const r = podman(['logs', '--tail', '30', name]);
  return `${r.stdout}${r.stderr}`.trim();
}

export function imageSizeMb() {
  return Math.round(Number(podman(['image', 'inspect', '--format', '{{.Size}}', IMAGE]).stdout.trim()) / 1e6);
}
