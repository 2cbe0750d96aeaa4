#!/usr/bin/env node
/**
 * Summarizes V8 sampling heap profiles (`--profile` writes them to bench/results/profiles): bytes
 * by the function that allocated them (self) and by package, largest first.
 *
 *   node bench/heap-top.mjs bench/results/profiles/rooms-5-roomcast.heapprofile [more...] [--top 30]
 *     [--stacks 'dist/|engine.io']   also the allocating stacks through matching frames, 6 deep
 *
 * With BENCH_HEAP_SURVIVORS=1 on the bench run the samples are only what survived a scavenge
 * (what the young-generation GC copies and the old generation then holds); without it they are
 * everything allocated.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { owner } from './lib/frames.mjs';

const { values, positionals } = parseArgs({
  options: {
    top: { type: 'string', default: '25' },
    stacks: { type: 'string' },
  },
  allowPositionals: true,
});

const frame = (cf) =>
  `${cf.functionName || '(anonymous)'} ${cf.url ? `${cf.url.replace(/^.*(node_modules|dist)\//, '')}:${cf.lineNumber + 1}` : ''}`;

for (const file of positionals) {
  const { head } = JSON.parse(readFileSync(file, 'utf8'));
  const byFn = new Map();
  const byOwner = new Map();
  const byStack = new Map();
  const pattern = values.stacks ? new RegExp(values.stacks) : null;
  let total = 0;
  const walk = (node, path) => {
    const here = [...path, node.callFrame];
    if (node.selfSize > 0) {
      total += node.selfSize;
      const key = frame(node.callFrame);
      byFn.set(key, (byFn.get(key) ?? 0) + node.selfSize);
      // The package is that of the nearest frame with a URL (a native allocator is its caller's).
      const named = [...here].reverse().find((cf) => cf.url);
      const o = owner(named?.url);
      byOwner.set(o, (byOwner.get(o) ?? 0) + node.selfSize);
      if (pattern && here.some((cf) => pattern.test(cf.url))) {
        const stack = here.slice(-6).reverse().map(frame).join('\n      <- ');
        byStack.set(stack, (byStack.get(stack) ?? 0) + node.selfSize);
      }
    }
    for (const child of node.children ?? []) walk(child, here);
  };
  walk(head, []);
  const top = Number(values.top);
  const mb = (b) => `${(b / 1e6).toFixed(2).padStart(8)} MB`;
  const pct = (b) => `${((b / total) * 100).toFixed(1).padStart(5)}%`;
  console.log(`\n${file}: ${mb(total)} sampled`);
  console.log('by package / part:');
  for (const [k, b] of [...byOwner].sort((a, b) => b[1] - a[1]).slice(0, 15))
    console.log(`  ${pct(b)} ${mb(b)}  ${k}`);
  console.log('by allocating function:');
  for (const [k, b] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`  ${pct(b)} ${mb(b)}  ${k}`);
  if (pattern) {
    console.log(`stacks through /${values.stacks}/:`);
    for (const [k, b] of [...byStack].sort((a, b) => b[1] - a[1]).slice(0, top))
      console.log(`  ${pct(b)} ${mb(b)}  ${k}`);
  }
}
