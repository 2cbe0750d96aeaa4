#!/usr/bin/env node
/**
 * Renders a results file of `npm run bench` as Markdown tables (for docs/benchmarks.md).
 *
 *   node bench/to-markdown.mjs [bench/results/latest.json]
 */
import { readFileSync } from 'node:fs';
import { ROWS, ratio } from './lib/report.mjs';

const file = process.argv[2] ?? 'bench/results/latest.json';
const run = JSON.parse(readFileSync(file, 'utf8'));

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  if (Array.isArray(v)) return v.map((x) => fmt(x, digits)).join(' / ');
  if (typeof v === 'object') {
    return Object.entries(v)
      .map(([k, x]) => `${k} ${Number.isInteger(x) ? x : x.toFixed(2)}`)
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
  out.push('');
  for (const bar of s.bars ?? []) {
    const ci = bar.ci ? ` (95% CI ${bar.ci[0].toFixed(3)}–${bar.ci[1].toFixed(3)})` : '';
    const rounds = bar.rounds ? `; rounds ${bar.rounds.map((x) => x.toFixed(2)).join(' ')}` : '';
    out.push(
      `- bar: ${bar.what} = **${fmt(bar.value, 3)}**${ci} (limit ${bar.limit}): **${bar.holds ? 'holds' : 'missed'}**${rounds}`,
    );
  }
}
console.log(out.join('\n'));
