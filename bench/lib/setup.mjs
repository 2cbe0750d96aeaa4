/**
 * Starting what a scenario needs: server processes (roomcast or bare), subscriber processes and a
 * publisher, all children of the bench with IPC.
 */
import { fileURLToPath } from 'node:url';
import { spawn } from './proc.mjs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

export const SECRET = 'bench-secret-0123456789abcdef0123456789abcdef';
export const API_KEY = 'bench-api-key-0123456789';

const SERVER_SCRIPTS = { roomcast: here('../servers/roomcast.mjs'), bare: here('../servers/bare.mjs') };

/**
 * Starts one server process of `target` and waits for its port. A target is `roomcast` or
 * `bare`, optionally followed by ablations (`roomcast/no-metrics`, see servers/roomcast.mjs).
 */
export async function startServer(target, { redisUrl, config = {}, label = target } = {}) {
  // BENCH_SERVER_NODE_FLAGS adds node flags to the servers (e.g. --trace-gc); their output shows.
  const [name, ...ablate] = target.split('/');
  // `roomcast:NAME` runs another build of roomcast: ROOMCAST_DIST_NAME=/path/to/dist/index.js, a
  // copy of dist/ inside this checkout (so it finds node_modules), to compare two builds in one run.
  // BENCH_NODE_FLAGS_NAME adds node flags to that target's servers only (the same build with a V8
  // flag, for one: ROOMCAST_DIST_NAME=$PWD/dist/index.js).
  const [kind, build] = name.split(':');
  if (!SERVER_SCRIPTS[kind] || (build && kind !== 'roomcast')) throw new Error(`unknown target "${target}"`);
  const dist = build ? process.env[`ROOMCAST_DIST_${build.toUpperCase()}`] : undefined;
  if (build && !dist) throw new Error(`set ROOMCAST_DIST_${build.toUpperCase()} for "${target}"`);
  const flags = `${process.env.BENCH_SERVER_NODE_FLAGS ?? ''} ${build ? (process.env[`BENCH_NODE_FLAGS_${build.toUpperCase()}`] ?? '') : ''}`;
  const execArgv = ['--expose-gc', ...flags.split(' ').filter(Boolean)];
  let onReady;
  const ready = new Promise((resolve) => {
    onReady = resolve;
  });
  const handle = spawn(SERVER_SCRIPTS[kind], {
    name: `${label} server`,
    execArgv,
    env: {
      BENCH_SECRET: SECRET,
      BENCH_API_KEY: API_KEY,
      BENCH_CONFIG: JSON.stringify(config),
      BENCH_REDIS_URL: redisUrl ?? '',
      BENCH_ABLATE: ablate.join('/'),
      ...(dist ? { ROOMCAST_DIST: dist } : {}),
    },
    onEvent: (msg) => msg.event === 'ready' && onReady(msg),
  });
  const msg = await Promise.race([
    ready,
    handle.exited.then(({ code }) => {
      throw new Error(`${label} server exited with ${code} before it listened`);
    }),
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${label} server did not start`)), 30_000)),
  ]);
  return {
    ...handle,
    label: label.replaceAll('/', '_').replaceAll(':', '_'),
    port: msg.port,
    url: `http://127.0.0.1:${msg.port}`,
  };
}

/** Starts `count` subscriber processes. */
export function startSubscribers(count) {
  return Array.from({ length: count }, (_, i) =>
    spawn(here('./subscribers.mjs'), { name: `subscribers#${i}` }),
  );
}

export function startPublisher() {
  return spawn(here('./publisher.mjs'), { name: 'publisher' });
}

/**
 * Opens `rooms.length` connections spread over the subscriber processes; connection i goes to
 * `urls[nodeOf(i)]` (several nodes in cluster scenarios; by default i % nodes).
 */
export async function openSubscribers(procs, { target, urls, rooms, nodeOf = (i) => i % urls.length }) {
  const shares = procs.map(() => ({ rooms: [], indexes: [] }));
  rooms.forEach((room, i) => {
    const share = shares[i % procs.length];
    share.rooms.push(room);
    share.indexes.push(i);
  });
  const results = await Promise.all(
    procs.map(async (proc, p) => {
      const byUrl = new Map();
      shares[p].rooms.forEach((room, j) => {
        const url = urls[nodeOf(shares[p].indexes[j])];
        if (!byUrl.has(url)) byUrl.set(url, []);
        byUrl.get(url).push(room);
      });
      let opened = 0;
      let failed = 0;
      let firstError;
      let base = p * 1_000_000;
      for (const [url, list] of byUrl) {
        const r = await proc.request('open', { url, target, rooms: list, base, secret: SECRET }, 300_000);
        opened += r.opened;
        failed += r.failed;
        firstError ??= r.firstError;
        base += list.length;
      }
      return { opened, failed, firstError };
    }),
  );
  const failed = results.reduce((a, r) => a + r.failed, 0);
  if (failed > 0) {
    const why = results.find((r) => r.firstError)?.firstError;
    throw new Error(`${failed} of ${rooms.length} subscriber connections failed (${why})`);
  }
  return results.reduce((a, r) => a + r.opened, 0);
}

export async function stopAll(handles) {
  await Promise.allSettled(handles.filter(Boolean).map((h) => h.stop()));
}
