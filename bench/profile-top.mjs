#!/usr/bin/env node
/**
 * Summarizes V8 CPU profiles (`npm run bench -- --profile` writes them to bench/results/profiles):
 * self time by function and by package, idle excluded.
 *
 *   node bench/profile-top.mjs bench/results/profiles/fanout-1000-roomcast.cpuprofile [more...] [--top 30]
 *     [--inclusive 'dist/|prom-client|zod|rate-limiter']   inclusive time of matching functions
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { owner } from './lib/frames.mjs';

const { values, positionals } = parseArgs({
  options: {
    top: { type: 'string', default: '25' },
    /** Also list inclusive (self + callees) time of the functions whose file matches this. */
    inclusive: { type: 'string' },
  },
  allowPositionals: true,
});

for (const file of positionals) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map(); // node id -> µs
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    self.set(samples[i], (self.get(samples[i]) ?? 0) + (timeDeltas[i] ?? 0));
  }
  const byFn = new Map();
  const byOwner = new Map();
  let busy = 0;
  for (const [id, us] of self) {
    const { callFrame } = byId.get(id);
    if (callFrame.functionName === '(idle)') continue;
    busy += us;
    const where = callFrame.url
      ? `${callFrame.url.replace(/^.*node_modules\//, '')}:${callFrame.lineNumber + 1}`
      : '';
    const key = `${callFrame.functionName || '(anonymous)'} ${where}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const o = callFrame.functionName.startsWith('(')
      ? callFrame.functionName
      : owner(callFrame.url, '(native/gc)');
    byOwner.set(o, (byOwner.get(o) ?? 0) + us);
  }
  const top = Number(values.top);
  const pct = (us) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
  console.log(`\n${file}: ${(busy / 1000).toFixed(0)} ms busy (idle excluded)`);
  console.log('by package / part:');
  for (const [k, us] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
    console.log(`  ${pct(us)} ${(us / 1000).toFixed(1).padStart(8)} ms  ${k}`);
  }
  console.log(`top ${top} functions by self time:`);
  for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`  ${pct(us)} ${(us / 1000).toFixed(1).padStart(8)} ms  ${k}`);
  }
  if (values.inclusive) {
    const re = new RegExp(values.inclusive);
    const parent = new Map();
    for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const incl = new Map();
    for (const [id, us] of self) {
      if (byId.get(id).callFrame.functionName === '(idle)') continue;
      const seen = new Set();
      for (let n = id; n !== undefined; n = parent.get(n)) {
        const { functionName, url, lineNumber } = byId.get(n).callFrame;
        if (!re.test(url)) continue;
        const key = `${functionName || '(anonymous)'} ${url.replace(/^.*(node_modules|dist)\//, '')}:${lineNumber + 1}`;
        if (seen.has(key)) continue;
        seen.add(key);
        incl.set(key, (incl.get(key) ?? 0) + us);
      }
    }
    console.log(`inclusive time of functions in files matching /${values.inclusive}/:`);
    for (const [k, us] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`  ${pct(us)} ${(us / 1000).toFixed(1).padStart(8)} ms  ${k}`);
    }
  }
}
