#!/usr/bin/env node
/**
 * `npm run bench`: every scenario against roomcast and against bare Socket.IO in the same run,
 * one table per scenario with the ratio, and the figures as JSON in bench/results/latest.json.
 *
 *   node bench/run.mjs [--scenarios fanout,rooms,idle] [--fanout 1000,5000] [--duration 10] ...
 *
 * Every flag can also be given as an env var: --fanout-rate 20 is BENCH_FANOUT_RATE=20.
 * See docs/benchmarks.md for what each scenario measures.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { bars, table } from './lib/report.mjs';
import { formatSteps, stepsOf } from './lib/steps.mjs';
import { SCENARIOS } from './scenarios/index.mjs';

const OPTIONS = {
  scenarios: {
    type: 'string',
    default: 'fanout,rooms,idle,cluster,http,http-batch,storm,redis-cluster',
    help: 'names or prefixes',
  },
  targets: { type: 'string', default: 'roomcast,bare', help: 'servers to run' },
  duration: { type: 'string', default: '10', help: 'measured seconds per target, over all rounds' },
  warmup: { type: 'string', default: '3', help: 'unmeasured seconds before each run' },
  rounds: { type: 'string', default: '5', help: 'alternating measured windows per target' },
  repeat: { type: 'string', default: '1', help: 'idle scenario: runs per target (medians)' },
  procs: { type: 'string', default: '4', help: 'subscriber processes' },
  payload: { type: 'string', default: '100', help: 'padding bytes in each payload' },
  'bare-pad': {
    type: 'string',
    default: '0',
    help: "more padding in bare's payloads only (180: bare's frames as long as roomcast's envelopes)",
  },
  fanout: { type: 'string', default: '1000,5000', help: 'subscriber counts of the fan-out scenarios' },
  'fanout-deliveries': { type: 'string', default: '20000', help: 'asked deliveries/s: rate = this / N' },
  rooms: { type: 'string', default: '1000', help: 'rooms in the many-rooms scenario' },
  members: { type: 'string', default: '5', help: 'members per room in the many-rooms scenario(s)' },
  'rooms-rate': { type: 'string', default: '1000', help: 'publishes/s over all rooms' },
  idle: { type: 'string', default: '5000', help: 'connections in the idle scenario' },
  nodes: { type: 'string', default: '2,3', help: 'node counts of the cluster scenarios' },
  'cluster-subs': { type: 'string', default: '1000', help: 'subscribers in cluster fan-out' },
  'cluster-rate': { type: 'string', default: '20', help: 'publishes/s in cluster fan-out' },
  'cluster-rooms': { type: 'string', default: '300', help: 'rooms (of 5) in the cluster rooms scenarios' },
  'cluster-rooms-rate': {
    type: 'string',
    default: '300',
    help: 'publishes/s in the cluster rooms scenarios',
  },
  'shards-inflight': { type: 'string', default: '64', help: 'publishes in flight in redis-cluster' },
  'http-subs': { type: 'string', default: '1000', help: 'subscribers in the HTTP scenario' },
  'http-members': { type: 'string', default: '10', help: 'members per room in the HTTP scenario' },
  'http-rate': { type: 'string', default: '500', help: 'HTTP publishes/s over the rooms' },
  'batch-subs': { type: 'string', default: '1000', help: 'subscribers in the HTTP batch scenario' },
  'batch-members': { type: 'string', default: '10', help: 'members per room in the HTTP batch scenario' },
  'batch-size': { type: 'string', default: '100', help: 'messages (to as many rooms) per batch request' },
  'batch-rate': { type: 'string', default: '5', help: 'HTTP batch requests/s' },
  storm: { type: 'string', default: '5000', help: 'clients in the reconnect storm' },
  'storm-members': { type: 'string', default: '10', help: 'members per room in the storm (2 rooms/client)' },
  'storm-deadline': {
    type: 'string',
    default: '60',
    help: 'storm: s after which a client not joined failed',
  },
  profile: {
    type: 'boolean',
    default: false,
    help: 'CPU + allocation profiles of the servers; prints the per-step table',
  },
  out: { type: 'string', default: 'bench/results/latest.json', help: 'JSON results file' },
  help: { type: 'boolean', default: false, help: 'this text' },
};

function options() {
  const { values } = parseArgs({ options: OPTIONS, strict: true });
  for (const [name, spec] of Object.entries(OPTIONS)) {
    const env = process.env[`BENCH_${name.toUpperCase().replaceAll('-', '_')}`];
    if (env !== undefined && process.argv.every((a) => !a.startsWith(`--${name}`))) {
      values[name] = spec.type === 'boolean' ? env === '1' || env === 'true' : env;
    }
  }
  return values;
}

const opts = options();
// The publisher reads it (a child process with this environment).
process.env.BENCH_BARE_PAD = opts['bare-pad'];
if (opts.help) {
  console.log('usage: node bench/run.mjs [options]   (each option also as BENCH_<NAME> env var)');
  for (const [name, spec] of Object.entries(OPTIONS)) {
    console.log(
      `  --${name.padEnd(18)} ${spec.help}${spec.type === 'string' ? ` (default ${spec.default})` : ''}`,
    );
  }
  process.exit(0);
}

const root = fileURLToPath(new URL('..', import.meta.url));
process.chdir(root);
const targets = opts.targets.split(',').filter(Boolean);
const wanted = opts.scenarios.split(',').filter(Boolean);
const profileDir = opts.profile ? `${root}bench/results/profiles` : undefined;
if (profileDir) mkdirSync(profileDir, { recursive: true });

// A hard bound on the whole run: the bench must stop by itself.
const HARD_LIMIT_MS = 60 * 60 * 1000;
setTimeout(() => {
  console.error(`bench: still running after ${HARD_LIMIT_MS / 60000} min; giving up`);
  process.exit(2);
}, HARD_LIMIT_MS).unref();

const cases = [];
for (const make of SCENARIOS) cases.push(...(await make(opts, profileDir)));
const selected = cases.filter((c) => wanted.some((w) => c.name === w || c.name.startsWith(w)));

const machine = {
  cpus: os.cpus().length,
  cpuModel: os.cpus()[0]?.model,
  memoryGB: Math.round(os.totalmem() / 2 ** 30),
  node: process.version,
  platform: `${os.platform()} ${os.release()}`,
};
console.log(
  `roomcast bench: ${machine.cpus} × ${machine.cpuModel}, node ${machine.node}; ` +
    `targets ${targets.join(', ')}; scenarios ${selected.map((c) => c.name).join(', ') || '(none)'}`,
);

const results = [];
const skipped = [];
for (const c of selected) {
  if (c.unavailable) {
    console.log(`\n== ${c.name}: skipped (${c.unavailable})`);
    skipped.push({ name: c.name, why: c.unavailable });
    continue;
  }
  const started = performance.now();
  let measured;
  try {
    await c.before?.();
    measured = await c.measure(targets);
  } catch (err) {
    console.log(`\n== ${c.name}: FAILED: ${err.stack ?? err}`);
    results.push({ name: c.name, kind: c.kind, description: c.description, error: String(err) });
    continue;
  } finally {
    await c.after?.();
  }
  const scenario = {
    name: c.name,
    kind: c.kind,
    description: c.description,
    params: c.params,
    share: c.share,
    seconds: Math.round((performance.now() - started) / 1000),
    ...measured,
  };
  scenario.bars = bars(scenario);
  results.push(scenario);
  console.log(table(scenario));
  // With --profile, each one-node scenario's per-step table (bench/lib/steps.mjs).
  if (profileDir && scenario.kind !== 'cluster' && scenario.kind !== 'shards') {
    const steps = stepsOf(scenario, profileDir);
    if (steps) {
      scenario.steps = steps;
      console.log(formatSteps(scenario.name, steps));
    }
  }
}

/** The commit measured, and whether src/ had uncommitted changes (dist/ is built from the tree). */
function source() {
  try {
    const git = (...args) => execFileSync('git', args, { encoding: 'utf8' }).trim();
    return {
      commit: git('rev-parse', '--short', 'HEAD'),
      srcDirty: git('status', '--porcelain', '--', 'src') !== '',
    };
  } catch {
    return null;
  }
}

const out = {
  date: new Date().toISOString(),
  source: source(),
  command: `node bench/run.mjs ${process.argv.slice(2).join(' ')}`.trim(),
  machine,
  options: opts,
  scenarios: results,
  skipped,
};
mkdirSync(fileURLToPath(new URL('./results', import.meta.url)), { recursive: true });
writeFileSync(opts.out, `${JSON.stringify(out, null, 2)}\n`);
console.log(`\nresults written to ${opts.out}`);
const failed = results.some((r) => r.error);
process.exit(failed ? 1 : 0);
