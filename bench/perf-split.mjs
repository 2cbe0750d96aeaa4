#!/usr/bin/env node
/**
 * Where each server's CPU goes, measured from outside: Linux `perf record` (cpu-clock, every
 * thread of the server, kernel included) over the measured rounds of one scenario, then each
 * sample put in one category by the frames on its stack. Unlike `--profile` (V8's sampler, wall
 * time on the main thread), this counts CPU only, GC helper threads and kernel time included, so
 * the categories add up to the server's CPU.
 *
 *   node bench/perf-split.mjs [--freq 999] [--keep dir] -- --scenarios rooms --rounds 2 --duration 40
 *
 *   node bench/perf-split.mjs --analyze dir     # split a recording kept with --keep dir again
 *   node bench/perf-split.mjs --innermost ...   # by each sample's innermost categorized frame
 *
 * Everything after `--` goes to bench/run.mjs (one single-node scenario; the first one is split).
 * Figures are per publish, or per client in the storm (its connect and two joins, and also its
 * disconnect, which falls between the storms recorded).
 * Needs `perf` and the right to profile other processes (root, or kernel.perf_event_paranoid ≤ 1).
 * The servers run with `--perf-basic-prof-only-functions` (through NODE_OPTIONS) so that perf can
 * name JavaScript frames, and with `--no-compact-code-space` so that V8 does not move compiled
 * code the map has named. The map can still misname a frame whose code was freed and its memory
 * reused, which is why the categories go by the whole stack, not by its innermost frame. A
 * sample counts in the first category (in the order printed) that one of its frames belongs to;
 * with `--innermost`, in the category of its innermost frame that belongs to one.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ACK_LINE } from './lib/steps.mjs';

const split = process.argv.indexOf('--');
const { values } = parseArgs({
  args: process.argv.slice(2, split === -1 ? undefined : split),
  options: {
    freq: { type: 'string', default: '999' },
    keep: { type: 'string' },
    /** Splits the recording kept in this directory again (after a change of categories). */
    analyze: { type: 'string' },
    /** A sample goes to its innermost categorized frame, not to the first category in order. */
    innermost: { type: 'boolean', default: false },
  },
});
const benchArgs = split === -1 ? [] : process.argv.slice(split + 1);
const freq = Number(values.freq);
const dir = values.analyze ?? values.keep ?? mkdtempSync(join(tmpdir(), 'roomcast-perf-'));
mkdirSync(dir, { recursive: true });
const out = join(dir, 'results.json');

const CATEGORIES = [
  ['broadcast (encode, emit, write of deliveries)', /broadcast-operator\.js/],
  // The closure `Socket#ack` returns (its line in the installed socket.io) and `Socket#packet`.
  [
    'ack and other own packets',
    new RegExp(`socket\\.io/dist/socket\\.js:${ACK_LINE}:|JS:\\S*packet \\S*socket\\.io/dist/socket\\.js`),
  ],
  // The token check of a connection (the storm): jsonwebtoken and what it calls, HMAC included.
  ['JWT verification (jsonwebtoken)', /node_modules\/(jsonwebtoken|jws|jwa)\//],
  // Engine.IO's handshake and WebSocket upgrade, and Socket.IO's connect after the middlewares.
  // Before the server's own code: Engine.IO goes on inside roomcast's `allowRequest` callback, and
  // Socket.IO's connect inside its middleware's `next()`, which bare has neither of.
  [
    'connection setup (Engine.IO handshake, Socket.IO connect)',
    /engine\.io\/build\/server\.js|ws\/lib\/websocket-server\.js|JS:\S*(_onconnect|_doConnect) /,
  ],
  [
    "server's own code (handlers, rooms, engine)",
    /\/dist\/(socket|rooms|backends|hub|http|auth|sse|echo)\/|bench\/servers\/bare/,
  ],
  ['read and decode', /socketOnData|onStreamRead|ws\/lib\/receiver\.js/],
  ['GC (any thread)', /Scaveng|Marking|Sweeper|Heap::|GCTracer|MarkCompact/],
  ['write completion', /afterWriteTick|onwrite|_onSentLast|onDrain/],
  ['HTTP (node:http, fastify)', /_http_|fastify|find-my-way|parserOn/],
  ['event loop (poll, timers)', /uv__io_poll|uv__run_timers|epoll/],
];

/**
 * `--innermost`: the category of a sample's innermost frame that belongs to one (frames come
 * innermost first), so that work a library does inside a callback of roomcast's (Socket.IO's
 * connect inside the middleware's `next()`) is the library's, and roomcast's code that a library
 * calls (a listener inside a broadcast) is roomcast's. It is also more sensitive to a misnamed frame.
 */
function innermostCategory(frames) {
  for (const frame of frames) {
    const hit = CATEGORIES.find(([, re]) => re.test(frame));
    if (hit) return hit[0];
  }
  return 'other';
}

/** The bench target a server process runs, from its script, build and ablations. */
function targetOf(pid) {
  const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  const env = Object.fromEntries(
    readFileSync(`/proc/${pid}/environ`, 'utf8')
      .split('\0')
      .filter(Boolean)
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
  );
  let name = cmd.includes('servers/bare.mjs') ? 'bare' : 'roomcast';
  if (env.ROOMCAST_DIST) {
    const build = Object.keys(process.env).find(
      (k) => k.startsWith('ROOMCAST_DIST_') && process.env[k] === env.ROOMCAST_DIST,
    );
    name += `:${build ? build.slice('ROOMCAST_DIST_'.length).toLowerCase() : 'other'}`;
  }
  if (env.BENCH_ABLATE) name += `/${env.BENCH_ABLATE}`;
  return name;
}

/** The bench's own server processes (its children: servers of another bench run are left out). */
function serverPids(parent) {
  try {
    return execFileSync('pgrep', ['-P', String(parent), '-f', 'bench/servers/(roomcast|bare)\\.mjs'], {
      encoding: 'utf8',
    })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

/** Runs the bench with perf recording each server over the measured rounds; target -> perf.data. */
async function record() {
  const bench = spawn(process.execPath, ['bench/run.mjs', ...benchArgs, '--out', out], {
    env: {
      ...process.env,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --perf-basic-prof-only-functions`,
      // Code V8 moves is not moved in the perf map, which then names the old place wrongly: the
      // servers keep their compiled code where it is (a V8 flag, so not in NODE_OPTIONS).
      BENCH_SERVER_NODE_FLAGS: `${process.env.BENCH_SERVER_NODE_FLAGS ?? ''} --no-compact-code-space`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const benchDone = new Promise((resolve) => bench.once('close', resolve));
  const recorders = []; // promises of the perf processes' exits
  const files = new Map(); // target -> perf.data
  let stopping = false;
  const stop = []; // kills the perf processes
  // run.mjs reports progress on stderr and its tables on stdout: both are watched, and passed on.
  function watch(line) {
    if (recorders.length === 0 && /round 1\//.test(line)) {
      for (const pid of serverPids(bench.pid)) {
        let target = targetOf(pid);
        if (files.has(target)) target += `-${pid}`;
        const file = join(dir, `${target.replace(/[/:]/g, '_')}.data`);
        files.set(target, file);
        const perf = spawn(
          'perf',
          ['record', '-e', 'cpu-clock', '-F', String(freq), '-g', '-p', String(pid), '-o', file],
          {
            stdio: 'ignore',
          },
        );
        recorders.push(new Promise((resolve) => perf.once('close', resolve)));
        stop.push(() => perf.kill('SIGINT'));
      }
    }
    // The scenario's table follows its measured rounds: stop recording there.
    if (recorders.length > 0 && !stopping && line.startsWith('== ')) {
      stopping = true;
      for (const kill of stop) kill();
    }
  }
  createInterface({ input: bench.stdout }).on('line', (line) => {
    console.log(line);
    watch(line);
  });
  createInterface({ input: bench.stderr }).on('line', (line) => {
    console.error(line);
    watch(line);
  });
  await benchDone;
  for (const kill of stop) kill();
  await Promise.all(recorders);
  if (files.size === 0) throw new Error('no server was recorded (did the scenario reach its rounds?)');
  writeFileSync(join(dir, 'targets.json'), JSON.stringify(Object.fromEntries(files)));
  return files;
}

const files = values.analyze
  ? new Map(Object.entries(JSON.parse(readFileSync(join(dir, 'targets.json'), 'utf8'))))
  : await record();

const scenario = JSON.parse(readFileSync(out, 'utf8')).scenarios[0];
const rows = new Map(CATEGORIES.map(([label]) => [label, new Map()]));
rows.set('other', new Map());
const kernel = new Map();
const totals = new Map();
for (const [target, file] of files) {
  const text = execFileSync('perf', ['script', '-i', file, '-F', 'ip,sym,dso'], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  for (const sample of text.split('\n\n')) {
    const frames = sample.split('\n').filter((l) => l.trim());
    if (frames.length === 0) continue;
    const label = values.innermost
      ? innermostCategory(frames)
      : (CATEGORIES.find(([, re]) => re.test(frames.join('\n')))?.[0] ?? 'other');
    const row = rows.get(label);
    row.set(target, (row.get(target) ?? 0) + 1);
    totals.set(target, (totals.get(target) ?? 0) + 1);
    if (frames[0].includes('[kernel.kallsyms]')) kernel.set(target, (kernel.get(target) ?? 0) + 1);
  }
}

const targets = [...files.keys()];
// The storm counts clients (connect + 2 joins, and the disconnect between storms), the others publishes.
const unit = scenario.name === 'storm' ? 'client' : 'publish';
const count = (t) => {
  const r = scenario.results[t.replace(/-\d+$/, '')];
  return (unit === 'client' ? r?.joined : r?.published) ?? Number.NaN;
};
const us = (samples, t) => ((samples / freq) * 1e6) / count(t);
const width = Math.max(12, ...targets.map((t) => t.length + 2));
const cell = (samples, t) => `${us(samples ?? 0, t).toFixed(1)}`.padStart(width);
console.log(
  `\n-- perf split of ${scenario.name}: server CPU µs per ${unit} (${freq} Hz cpu-clock, all threads)`,
);
console.log(`${'category'.padEnd(48)}${targets.map((t) => t.padStart(width)).join('')}`);
for (const [label, row] of rows)
  console.log(`${label.padEnd(48)}${targets.map((t) => cell(row.get(t), t)).join('')}`);
console.log(
  `${'  of all: kernel (innermost frame)'.padEnd(48)}${targets.map((t) => cell(kernel.get(t), t)).join('')}`,
);
console.log(`${'total'.padEnd(48)}${targets.map((t) => cell(totals.get(t), t)).join('')}`);
console.log(`\nperf data and results: ${dir}`);
