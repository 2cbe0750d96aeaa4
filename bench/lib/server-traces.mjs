import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

const STARTING = /^\s+\S+: starting (\S+)/;
const TRACE = /^\[(\d+):0x[0-9a-f]+\]\s+(?:(\d+) ms: )?(.*)$/;

/**
 * The V8 trace lines in the output of a bench run (servers run with `BENCH_SERVER_NODE_FLAGS`),
 * each with its server: the pid V8 prints, and the target whose `starting <target>` line came
 * before that pid's first line (both nodes of a cluster target follow the same line). `ms` is the
 * time since the process started when V8 printed one (`--trace-gc-verbose`'s space lines have
 * none); `rest` is the line after the pid and time.
 *
 * @example
 * for await (const { pid, target, ms, rest } of serverTraces('run.txt')) if (rest.startsWith('Mark-Compact')) ...
 */
export async function* serverTraces(file) {
  let starting = '?';
  const targets = new Map();
  for await (const line of createInterface({ input: createReadStream(file) })) {
    const start = line.match(STARTING);
    if (start) {
      starting = start[1];
      continue;
    }
    const m = line.match(TRACE);
    if (!m) continue;
    const [, pid, ms, rest] = m;
    if (!targets.has(pid)) targets.set(pid, starting);
    yield { pid, target: targets.get(pid), ms: ms === undefined ? undefined : Number(ms), rest };
  }
}
