#!/usr/bin/env node
/**
 * What each server's scavenges promoted into the old generation, and when: reads the output of a
 * bench run whose servers ran with V8's GC traces in name=value form, and prints per server the
 * bytes promoted after `--from` seconds (by scavenges, and the rest of the old space's growth:
 * objects allocated there directly, from pretenured allocation sites), the mark-compacts, and how
 * much of the promotion fell in the scavenges of the last `--before` ms before each mark-compact
 * (on a cluster's publishing node, spells of heavy promotion that each mark-compact ends).
 *
 *   BENCH_SERVER_NODE_FLAGS='--trace-gc --trace-gc-nvp --trace-gc-verbose' \
 *     node bench/run.mjs --scenarios cluster-2-rooms --cluster-rooms-rate 2000 --rounds 2 --duration 30 > run.txt
 *   node bench/promotion.mjs run.txt [--from 8] [--before 1500] [--timeline]
 *
 * `--timeline` also lists each GC after `--from`: `ms kind KB-promoted` (s: scavenge, mc:
 * mark-compact). A server is named by the `starting <target>` line its first trace line follows,
 * as in bench/pretenure.mjs. Times are ms since the process started.
 */
import { parseArgs } from 'node:util';
import { serverTraces } from './lib/server-traces.mjs';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    from: { type: 'string', default: '8' },
    before: { type: 'string', default: '1500' },
    timeline: { type: 'boolean', default: false },
  },
});
const file = positionals[0];
if (!file) {
  console.error(
    'usage: node bench/promotion.mjs <output of a bench run with --trace-gc-nvp --trace-gc-verbose>',
  );
  process.exit(2);
}
const fromMs = Number(opts.from) * 1000;
const beforeMs = Number(opts.before);

/** pid -> { target, gcs: [{ ms, kind, promoted (bytes), old (KB of old space used after) }] } */
const servers = new Map();
const NVP = /^pause=.* gc=(\w+) /;
const SPACE = /^Old space,\s+used:\s+(\d+) KB/;

for await (const { pid, target, ms, rest } of serverTraces(file)) {
  const gc = rest.match(NVP);
  if (gc && ms !== undefined) {
    let s = servers.get(pid);
    if (!s) {
      s = { target, gcs: [] };
      servers.set(pid, s);
    }
    const promoted = Number(rest.match(/ promoted=(\d+)/)?.[1] ?? 0);
    s.gcs.push({ ms, kind: gc[1], promoted, old: undefined });
    continue;
  }
  // --trace-gc-verbose prints the spaces after each GC's name=value line.
  const space = rest.match(SPACE);
  const last = space && servers.get(pid)?.gcs.at(-1);
  if (last && last.old === undefined) last.old = Number(space[1]);
}

const kb = (bytes) => `${(bytes / 1024).toFixed(0)} KB`;
for (const [pid, s] of servers) {
  const gcs = s.gcs;
  const compacts = gcs.filter((g) => g.kind !== 's' && g.ms >= fromMs).map((g) => g.ms);
  let promoted = 0;
  let direct = 0;
  let scavenges = 0;
  let inMarking = 0;
  for (let i = 1; i < gcs.length; i++) {
    const [a, b] = [gcs[i - 1], gcs[i]];
    if (b.ms < fromMs || b.kind !== 's') continue;
    scavenges++;
    promoted += b.promoted;
    if (compacts.some((mc) => mc >= b.ms && mc - b.ms <= beforeMs)) inMarking += b.promoted;
    // Old space grown between two scavenges beyond what the second promoted: allocated there
    // directly (a mark-compact in between would shrink it, so only scavenge pairs count).
    if (a.kind === 's' && a.old !== undefined && b.old !== undefined)
      direct += Math.max(0, (b.old - a.old) * 1024 - b.promoted);
  }
  const span = ((gcs.at(-1)?.ms ?? 0) - fromMs) / 1000;
  console.log(`\n${s.target} (pid ${pid}), after ${opts.from} s (${span.toFixed(1)} s traced):`);
  console.log(
    `  ${scavenges} scavenges promoted ${kb(promoted)}; ${kb(inMarking)} of it in the ${beforeMs} ms before a mark-compact`,
  );
  console.log(`  old space grown otherwise (allocated there directly): ${kb(direct)}`);
  console.log(
    `  ${compacts.length} mark-compacts, at s: ${compacts.map((ms) => (ms / 1000).toFixed(1)).join(', ') || 'none'}`,
  );
  if (opts.timeline)
    console.log(
      `  ${gcs
        .filter((g) => g.ms >= fromMs)
        .map((g) => `${g.ms} ${g.kind} ${(g.promoted / 1024).toFixed(0)}`)
        .join('; ')}`,
    );
}
