#!/usr/bin/env node
/**
 * The per-publish cost of each step (decode, validation, rights, rate limit, offset and history,
 * envelope, encode, emit, ack, metrics, idempotency, ...) for roomcast and for bare Socket.IO, in
 * µs of server CPU and bytes allocated, from the profiles of a `--profile` run (bench/lib/steps.mjs
 * says how samples are attributed). `npm run bench -- --scenarios rooms --profile` prints it at the
 * end of each scenario; this re-reads a results file:
 *
 *   node bench/steps.mjs [bench/results/latest.json] [--profiles bench/results/profiles] [--markdown]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { formatSteps, stepsOf } from './lib/steps.mjs';

const { values, positionals } = parseArgs({
  options: {
    profiles: { type: 'string', default: 'bench/results/profiles' },
    markdown: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const run = JSON.parse(readFileSync(positionals[0] ?? 'bench/results/latest.json', 'utf8'));
let printed = 0;
for (const scenario of run.scenarios) {
  if (scenario.error) continue;
  const steps = stepsOf(scenario, values.profiles);
  if (!steps) continue;
  console.log(formatSteps(scenario.name, steps, { markdown: values.markdown }));
  console.log('');
  printed++;
}
if (!printed) {
  console.error(
    `no profiles in ${values.profiles} for the scenarios of this results file (run with --profile)`,
  );
  process.exit(1);
}
console.log(
  `commit ${run.source?.commit ?? '?'}${run.source?.srcDirty ? ' (src/ dirty)' : ''}; \`${run.command}\``,
);
