/** Tables for the terminal, and the bars the project holds roomcast to. */

/** Rows of each scenario kind: [field, label, digits]. */
export const ROWS = {
  broadcast: [
    ['cpuUsPerDelivery', 'server CPU µs / delivery', 3],
    ['userUsPerDelivery', '  of which user', 3],
    ['systemUsPerDelivery', '  of which system', 3],
    ['mainThreadUsPerDelivery', '  of which main thread', 3],
    ['clientCpuUsPerDelivery', 'client CPU µs / delivery', 3],
    ['cpuUsPerPublish', 'server CPU µs / publish', 1],
    ['serverCpuPercent', 'server CPU % of one core', 1],
    ['deliveriesPerSec', 'deliveries / s', 0],
    ['latencyP50Ms', 'latency p50 ms', 2],
    ['latencyP99Ms', 'latency p99 ms', 2],
    ['ackP50Ms', 'publish ack p50 ms', 2],
    ['ackP99Ms', 'publish ack p99 ms', 2],
    ['published', 'published (ok)', 0],
    ['deliveries', 'deliveries', 0],
    ['lost', 'lost', 0],
    ['envelopeBytes', 'message bytes (JSON)', 0],
    ['serverRssMB', 'server RSS MB (end)', 1],
    ['loopDelayP99Ms', 'event-loop delay p99 ms', 1],
    ['otherBusyCores', 'other load (cores busy)', 2],
  ],
  cluster: [
    ['cpuUsPerDelivery', 'servers CPU µs / delivery', 3],
    ['cpuUsPerPublish', 'servers CPU µs / publish', 1],
    ['redisPublishCommandsPerPublish', 'Redis cmds / publish (path)', 2],
    ['redisPublishCommands', '  publish path', 0],
    ['redisBackgroundCommandsPerPublish', '  + timers (heartbeats)', 3],
    ['redisCallsInsideRedisPerPublish', 'Redis calls incl. Lua / pub', 2],
    ['redisCpuUsPerPublish', 'Redis CPU µs / publish', 1],
    ['redisMessagesPerNodePerPublish', 'pub/sub msgs per node / pub', 2],
    ['deliveriesPerSec', 'deliveries / s', 0],
    ['latencyP50Ms', 'latency p50 ms', 2],
    ['latencyP99Ms', 'latency p99 ms', 2],
    ['ackP50Ms', 'publish ack p50 ms', 2],
    ['published', 'published (ok)', 0],
    ['deliveries', 'deliveries', 0],
    ['lost', 'lost', 0],
    ['serverRssMB', 'servers RSS MB (end)', 1],
    ['otherBusyCores', 'other load (cores busy)', 2],
  ],
  http: [
    ['cpuUsPerDelivery', 'server CPU µs / delivery', 3],
    ['userUsPerDelivery', '  of which user', 3],
    ['cpuUsPerPublish', 'server CPU µs / request', 1],
    ['publishRate', 'requests / s', 0],
    ['deliveriesPerSec', 'deliveries / s', 0],
    ['latencyP50Ms', 'publish→delivery p50 ms', 2],
    ['latencyP99Ms', 'publish→delivery p99 ms', 2],
    ['ackP50Ms', 'request p50 ms', 2],
    ['ackP99Ms', 'request p99 ms', 2],
    ['published', 'published (ok)', 0],
    ['deliveries', 'deliveries', 0],
    ['lost', 'lost', 0],
    ['otherBusyCores', 'other load (cores busy)', 2],
  ],
  shards: [
    ['publishesPerSec', 'publishes / s', 0],
    ['redisCpuUsPerPublish', 'Redis CPU µs / publish (all)', 1],
    ['shardCpuUsPerPublish', 'per shard: CPU µs / publish', 1],
    ['shardShare', 'per shard: share of publishes', 2],
    ['shardCpuPercent', 'per shard: CPU % of a core', 1],
    ['shardIdleCpuPercent', '  + background (subtracted)', 1],
    ['ackP50Ms', 'publish ack p50 ms', 2],
    ['ackP99Ms', 'publish ack p99 ms', 2],
    ['published', 'published (ok)', 0],
    ['failed', 'failed', 0],
  ],
  idle: [
    ['rssKBPerConnection', 'RSS KB / connection', 2],
    ['heapKBPerConnection', 'heap KB / connection', 2],
    ['externalKBPerConnection', 'external KB / connection', 2],
    ['cpuUsPerConnect', 'CPU µs / connect+join', 0],
    ['connectsPerSec', 'connects / s', 0],
    ['connections', 'connections', 0],
    ['baselineRssMB', 'baseline RSS MB', 1],
    ['rssMB', 'RSS MB with connections', 1],
  ],
};

function fmt(v, digits) {
  if (v === null || v === undefined || Number.isNaN(v)) return '-';
  if (Array.isArray(v)) return v.map((x) => fmt(x, digits)).join(' ');
  if (typeof v === 'object') {
    return Object.entries(v)
      .sort((a, b) => b[1] - a[1])
      .map(([k, x]) => `${k} ${x.toFixed(2)}`)
      .join(', ');
  }
  if (typeof v !== 'number') return String(v);
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function ratio(a, b) {
  return typeof a === 'number' && typeof b === 'number' && b !== 0 ? a / b : null;
}

/**
 * One scenario as a table: a column per target, then each target's ratio to bare
 * (roomcast / bare first).
 */
export function table(scenario) {
  const targets = Object.keys(scenario.results);
  const others = targets.filter((t) => t !== 'bare');
  const withRatio = targets.includes('bare') ? others : [];
  const lines = [`\n== ${scenario.name}: ${scenario.description}`];
  const head = ['', ...targets, ...withRatio.map((t) => (withRatio.length === 1 ? 'ratio' : `${t}÷bare`))];
  const w = head.map((h, i) => (i === 0 ? 28 : Math.max(12, h.length)));
  const row = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join(' ');
  lines.push(row(head));
  for (const [field, label, digits] of ROWS[scenario.kind]) {
    const values = targets.map((t) => scenario.results[t]?.[field]);
    if (values.every((v) => v === undefined)) continue;
    const ratios = withRatio.map((t) => ratio(scenario.results[t]?.[field], scenario.results.bare?.[field]));
    lines.push(
      row([
        label,
        ...values.map((v) => fmt(v, digits)),
        ...ratios.map((r) => (r === null ? '' : r.toFixed(3))),
      ]),
    );
  }
  if (scenario.runs > 1) lines.push(`(median of ${scenario.runs} runs per target)`);
  const rounds = roundRatios(scenario, 'cpuUsPerDelivery');
  if (rounds) {
    const [lo, hi] = bootstrapMedian(rounds);
    lines.push(
      `roomcast÷bare CPU/delivery by round (${rounds.length} alternating windows): ` +
        `${rounds.map((r) => r.toFixed(3)).join(' ')}; median ${median(rounds).toFixed(3)} ` +
        `(95% CI ${lo.toFixed(3)}-${hi.toFixed(3)})`,
    );
  }
  for (const bar of scenario.bars ?? []) {
    lines.push(
      `bar: ${bar.what} ${fmt(bar.value, 3)} (limit ${bar.limit}) ${bar.holds ? 'HOLDS' : 'MISSED'}`,
    );
  }
  return lines.join('\n');
}

/** The project's bars that a scenario's figures can be checked against. */
export function bars(scenario) {
  const { roomcast, bare } = scenario.results;
  const out = [];
  if (!roomcast || !bare) return out;
  if (['broadcast', 'http', 'cluster'].includes(scenario.kind)) {
    const rounds = roundRatios(scenario, 'cpuUsPerDelivery');
    const r = rounds ? median(rounds) : ratio(roomcast.cpuUsPerDelivery, bare.cpuUsPerDelivery);
    const what = rounds ? 'CPU/delivery ratio (median of rounds)' : 'CPU/delivery ratio';
    const ci = rounds ? bootstrapMedian(rounds) : null;
    out.push({ what, value: r, limit: 1.05, holds: r !== null && r <= 1.05, ci });
  }
  if (scenario.kind === 'idle') {
    const r = ratio(roomcast.rssKBPerConnection, bare.rssKBPerConnection);
    out.push({ what: 'RSS/connection ratio', value: r, limit: 1.2, holds: r !== null && r <= 1.2 });
  }
  if (scenario.kind === 'cluster' && roomcast.redisPublishCommandsPerPublish !== undefined) {
    const v = roomcast.redisPublishCommandsPerPublish;
    out.push({ what: 'roomcast Redis cmds/publish', value: v, limit: 2, holds: v !== null && v <= 2 });
  }
  if (scenario.kind === 'cluster' && scenario.share && roomcast.redisMessagesPerNodePerPublish) {
    // A node serving 1/N of the rooms should receive 1/N of the messages (small slack for rounding).
    const v = Math.max(...roomcast.redisMessagesPerNodePerPublish);
    const limit = Math.round(scenario.share * 1000) / 1000;
    out.push({
      what: 'roomcast max pub/sub msgs per node / publish',
      value: v,
      limit,
      holds: v <= limit + 0.02,
    });
  }
  return out;
}

/** roomcast / bare of `field` in each alternating round, when the scenario ran in rounds. */
export function roundRatios(scenario, field) {
  if (!scenario.perRound?.length) return null;
  const out = scenario.perRound.map((r) => ratio(r.roomcast?.[field], r.bare?.[field]));
  return out.every((v) => v !== null) ? out : null;
}

/**
 * A 95% bootstrap interval of the median of `values` (seeded, so a run prints the same interval
 * twice): how far the rounds' spread leaves the median uncertain.
 */
export function bootstrapMedian(values, draws = 2000) {
  let seed = 12345;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const medians = [];
  for (let d = 0; d < draws; d++) {
    medians.push(median(values.map(() => values[Math.floor(random() * values.length)])));
  }
  medians.sort((a, b) => a - b);
  return [medians[Math.floor(draws * 0.025)], medians[Math.floor(draws * 0.975)]];
}

export function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** The median of each numeric field over several runs; other fields from the first run. */
export function medianOf(runs) {
  if (runs.length === 1) return runs[0];
  const out = { ...runs[0] };
  for (const key of Object.keys(out)) {
    const values = runs.map((r) => r[key]).filter((v) => typeof v === 'number');
    if (values.length !== runs.length) continue;
    values.sort((x, y) => x - y);
    const mid = values.length >> 1;
    out[key] = values.length % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
  }
  return out;
}
