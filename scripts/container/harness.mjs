/**
 * What the container test's stages share: settings, the PASS/FAIL record, podman with the shared
 * env of ../shared/container, and small async helpers. Plain ESM, no dependencies.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TOOLS = resolve(ROOT, process.env.CONTAINER_TOOLS ?? '../shared/container');
export const IMAGE = process.env.IMAGE ?? 'localhost/roomcast:test';
export const BASE = process.env.BASE ?? 'node:24-bookworm-slim';
export const NODE_VERSION = process.env.NODE_VERSION ?? '24.21.0';
const run = Date.now().toString(36);
export const SECRET = `container-test-secret-${run}-0123456789abcdef`;
export const API_KEY = `rc_container_test_${run}`;
/** More than the image's shutdownGraceMs (5 s), so a drain that hangs shows as exit 137. */
export const STOP_TIMEOUT_S = 20;

/** How docker-compose.yml runs the nodes: read-only root, no capabilities, no privilege gain. */
export const HARDENING = ['--read-only', '--cap-drop=ALL', '--security-opt=no-new-privileges'];

export const results = [];

export class StepFailed extends Error {}

export function log(line) {
  console.log(line);
}

/** Records a check; a FAIL ends the run (after cleanup). */
export function record(name, status, detail = '') {
  results.push({ name, status, detail });
  log(`${status.padEnd(4)} ${name}${detail ? `: ${detail}` : ''}`);
  if (status === 'FAIL') throw new StepFailed(name);
}

const cleanups = [];
const reports = [];

/** Registers `fn` (returning text) to print what a failure needs to be understood (logs). */
export function onFailure(title, fn) {
  reports.push({ title, fn });
}

export function printFailureReports() {
  for (const { title, fn } of reports) {
    try {
      log(`--- ${title}\n${fn()}`);
    } catch (err) {
      log(`--- ${title}: ${err?.message ?? err}`);
    }
  }
}

/** Registers `fn` to run at the end, last registered first, whatever happened. */
export function onCleanup(fn) {
  cleanups.push(fn);
}

export async function runCleanups() {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch (err) {
      log(`info cleanup: ${err?.message ?? err}`);
    }
  }
}

const PODMAN = `. "${TOOLS}/env.sh" && exec podman "$@"`;

/** podman with the shared env (state under /tmp/containers, runc, capped ulimits). */
export function podman(args, opts = {}) {
  return spawnSync('bash', ['-c', PODMAN, 'podman', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    ...opts,
  });
}

/** podman without blocking the event loop (clients keep receiving while a container stops). */
export function podmanAsync(args) {
  return new Promise((res) => {
    const child = spawn('bash', ['-c', PODMAN, 'podman', ...args]);
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('close', (status) => res({ status, stderr }));
  });
}

/** Stops a container with SIGTERM; returns its exit code and how long it took in seconds. */
export async function stopContainer(name) {
  const t = Date.now();
  const stop = await podmanAsync(['stop', '-t', String(STOP_TIMEOUT_S), name]);
  const seconds = (Date.now() - t) / 1000;
  const exitCode = podman(['inspect', '--format', '{{.State.ExitCode}}', name]).stdout.trim();
  return { ok: stop.status === 0 && exitCode === '0' && seconds < STOP_TIMEOUT_S, exitCode, seconds };
}

export function freePort() {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

/** Polls `url` until it answers `status`; false after `ms`. */
export async function waitForHttp(url, status = 200, ms = 30_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await fetch(url, { signal: AbortSignal.timeout(2000) }).catch(() => null);
    if (r?.status === status) return true;
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
}

/** The path of a program on PATH or in /usr/sbin, or null. */
export function findBin(name) {
  const r = spawnSync('bash', ['-c', `command -v ${name} || ls /usr/sbin/${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim().split('\n')[0] || null : null;
}
