#!/usr/bin/env node
/**
 * When V8 decided to pretenure, and when the old generation filled, per server process: reads the
 * output of a bench run whose servers ran with V8's GC and pretenuring traces, and prints, for
 * each server, its mark-compacts (time, old generation before and after) and the allocation sites
 * it moved to the old generation ("tenure": their objects are then allocated there, and what dies
 * young of them is left for a mark-compact to free), each at the time of the GC that decided it.
 *
 *   BENCH_SERVER_NODE_FLAGS='--trace-gc --trace-pretenuring-statistics' \
 *     node bench/run.mjs --scenarios cluster-2-rooms --cluster-rooms-rate 2000 --rounds 4 --duration 80 > run.txt
 *   node bench/pretenure.mjs run.txt
 *
 * A server is named by the `starting <target>` line its first trace line follows (both nodes of
 * a cluster target follow the same line; the first to print is listed first). Times are ms since
 * the process started, as the trace prints them. The traces name sites by address only; which
 * code a site belongs to is not in them.
 */
import { serverTraces } from './lib/server-traces.mjs';

const file = process.argv[2];
if (!file) {
  console.error(
    'usage: node bench/pretenure.mjs <output of a bench run with --trace-gc --trace-pretenuring-statistics>',
  );
  process.exit(2);
}

/** pid -> { target, lastMs, compacts: [{ ms, from, to, reduce }], tenured: Map<site, ms of the decision> } */
const servers = new Map();
const DECISION =
  /AllocationSite\((0x[0-9a-f]+)\): \(created, found, ratio\) \(\d+, \d+, [\d.]+\) (.+) => (.+)$/;

for await (const { pid, target, ms, rest } of serverTraces(file)) {
  let s = servers.get(pid);
  if (!s) {
    s = { target, lastMs: 0, compacts: [], tenured: new Map() };
    servers.set(pid, s);
  }
  if (ms !== undefined) s.lastMs = ms;
  const mc = rest.match(/^Mark-Compact( \(reduce\))? ([\d.]+) \([\d.]+\) -> ([\d.]+)/);
  if (mc) {
    s.compacts.push({ ms: s.lastMs, from: Number(mc[2]), to: Number(mc[3]), reduce: Boolean(mc[1]) });
    continue;
  }
  const d = rest.match(DECISION);
  // A new decision only: `tenure => tenure` is one made before.
  if (d && d[3] === 'tenure' && d[2] !== 'tenure' && !s.tenured.has(d[1])) s.tenured.set(d[1], s.lastMs);
}

for (const [pid, s] of servers) {
  const compacts = s.compacts.filter((c) => !c.reduce);
  console.log(
    `\n${s.target} (pid ${pid}): ${compacts.length} mark-compacts, ${s.tenured.size} sites tenured`,
  );
  console.log(
    `  mark-compacts (s: old generation MB before -> after): ${
      s.compacts
        .map((c) => `${(c.ms / 1000).toFixed(1)}: ${c.from} -> ${c.to}${c.reduce ? ' (reduce)' : ''}`)
        .join(', ') || 'none'
    }`,
  );
  // Decisions by second: a run's are mostly made in its first seconds (what it does at start-up).
  const bySecond = new Map();
  for (const ms of s.tenured.values()) {
    const sec = Math.floor(ms / 1000);
    bySecond.set(sec, (bySecond.get(sec) ?? 0) + 1);
  }
  console.log(
    `  sites tenured, by second: ${[...bySecond].map(([sec, n]) => `${sec} s: ${n}`).join(', ') || 'none'}`,
  );
}
