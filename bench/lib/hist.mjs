/**
 * A fixed-bucket latency histogram that merges across processes: 10 µs buckets up to 100 ms,
 * then 1 ms buckets up to 10 s, then one overflow bucket.
 */
const FINE = 10_000; // 10 µs × 10,000 = 100 ms
const COARSE = 9_900; // 1 ms × 9,900 = 100 ms .. 10 s
const SIZE = FINE + COARSE + 1;

export function createHistogram() {
  return { counts: new Float64Array(SIZE), n: 0, sum: 0, max: 0 };
}

export function record(h, ms) {
  const v = Math.max(ms, 0);
  let i;
  if (v < 100) i = Math.floor(v * 100);
  else if (v < 10_000) i = FINE + Math.floor(v - 100);
  else i = SIZE - 1;
  h.counts[i]++;
  h.n++;
  h.sum += v;
  if (v > h.max) h.max = v;
}

/** A compact form for IPC: only the non-empty buckets. */
export function pack(h) {
  const buckets = [];
  for (let i = 0; i < SIZE; i++) if (h.counts[i] > 0) buckets.push(i, h.counts[i]);
  return { buckets, n: h.n, sum: h.sum, max: h.max };
}

export function merge(into, packed) {
  for (let j = 0; j < packed.buckets.length; j += 2) into.counts[packed.buckets[j]] += packed.buckets[j + 1];
  into.n += packed.n;
  into.sum += packed.sum;
  into.max = Math.max(into.max, packed.max);
  return into;
}

/** The value (ms, upper edge of its bucket) below which `q` of the samples fall. */
export function quantile(h, q) {
  if (h.n === 0) return null;
  const target = Math.ceil(q * h.n);
  let seen = 0;
  for (let i = 0; i < SIZE; i++) {
    seen += h.counts[i];
    if (seen >= target) {
      if (i < FINE) return (i + 1) / 100;
      if (i < SIZE - 1) return 100 + (i - FINE + 1);
      return h.max;
    }
  }
  return h.max;
}

export function summary(h) {
  return {
    n: h.n,
    p50: quantile(h, 0.5),
    p99: quantile(h, 0.99),
    max: h.n ? h.max : null,
    mean: h.n ? h.sum / h.n : null,
  };
}
