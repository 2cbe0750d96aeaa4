#!/usr/bin/env node
/**
 * Renders a results file of `npm run bench` as Markdown tables (for docs/benchmarks.md).
 *
 *   node bench/to-markdown.mjs [bench/results/latest.json]
 */
import { readFileSync } from 'node:fs';
import { bootstrapMedian, median, ROWS, ratio, roundRatios } from './lib/report.mjs';

const file = process.argv[2] ?? 'bench/results/latest.json';
const run = JSON.parse(readFileSync(file, 'utf8'));

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  if (Array.isArray(v)) return v.map((x) => fmt(x, digits)).join(' / ');
  if (typeof v === 'object') {
    return Object.entries(v)
      .map(([k, x]) => `${k} ${x.toFixed(2)}`)
      .join(', ');
  }
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

const out = [];
out.push(
  `Run of ${run.date.slice(0, 16).replace('T', ' ')} UTC, commit ${run.source?.commit ?? '?'}` +
    `${run.source?.srcDirty ? ' (src/ with uncommitted changes)' : ''}, ` +
    `${run.machine.cpus} × ${run.machine.cpuModel}, ${run.machine.memoryGB} GiB, node ${run.machine.node}: ` +
    `\`${run.command}\``,
);
for (const s of run.scenarios) {
  out.push('', `### ${s.name}`, '', s.error ? `FAILED: ${s.error}` : s.description);
  if (s.error) continue;
  out.push('', '| | roomcast | bare | ratio |', '| --- | ---: | ---: | ---: |');
  for (const [field, label, digits] of ROWS[s.kind]) {
    const a = s.results.roomcast?.[field];
    const b = s.results.bare?.[field];
    if (a === undefined && b === undefined) continue;
    const r = ratio(a, b);
    out.push(
      `| ${label.trim()} | ${fmt(a, digits)} | ${fmt(b, digits)} | ${r === null ? '' : r.toFixed(3)} |`,
    );
  }
  const rounds = roundRatios(s, 'cpuUsPerDelivery');
  if (rounds) {
    const [lo, hi] = bootstrapMedian(rounds);
    out.push(
      '',
      `CPU/delivery roomcast÷bare in ${rounds.length} alternating rounds: median **${median(rounds).toFixed(3)}** ` +
        `(95% CI ${lo.toFixed(3)}–${hi.toFixed(3)}; rounds ${rounds.map((x) => x.toFixed(2)).join(' ')})`,
    );
  }
  for (const bar of s.bars ?? []) {
    out.push(
      `${rounds ? '' : '\n'}- bar: ${bar.what} = ${fmt(bar.value, 3)} (limit ${bar.limit}): **${bar.holds ? 'holds' : 'missed'}**`,
    );
  }
}
console.log(out.join('\n'));
