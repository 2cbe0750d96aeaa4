/**
 * How busy the whole machine is, from /proc/stat: on shared cores, other work running during a
 * measured window shows up here, so a reader can tell a quiet run from a noisy one.
 */
import { readFileSync } from 'node:fs';

const TICK_US = 10_000; // USER_HZ is 100 on Linux

/** CPU time of all cores so far, in µs: busy and total. Null where /proc/stat is missing. */
export function machineCpu() {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const idle = f[3] + (f[4] ?? 0);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busyUs: (total - idle) * TICK_US, totalUs: total * TICK_US };
  } catch {
    return null;
  }
}
