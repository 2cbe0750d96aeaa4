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
  'http-batch': [
    ['cpuUsPerDelivery', 'server CPU µs / delivery', 3],
    ['userUsPerDelivery', '  of which user', 3],
    ['cpuUsPerPublish', 'server CPU µs / message', 1],
    ['cpuUsPerRequest', 'server CPU µs / batch', 0],
    ['publishRate', 'messages / s', 0],
    ['deliveriesPerSec', 'deliveries / s', 0],
    ['latencyP50Ms', 'publish→delivery p50 ms', 2],
    ['latencyP99Ms', 'publish→delivery p99 ms', 2],
    ['ackP50Ms', 'request p50 ms', 2],
    ['ackP99Ms', 'request p99 ms', 2],
    ['requests', 'batches (requests)', 0],
    ['published', 'messages published (ok)', 0],
    ['publishErrors', 'publish errors', 0],
    ['deliveries', 'deliveries', 0],
    ['lost', 'lost', 0],
    ['loopDelayP99Ms', 'event-loop delay p99 ms', 1],
    ['otherBusyCores', 'other load (cores busy)', 2],
  ],
  storm: [
    ['cpuUsPerClient', 'server CPU µs / connect+2 joins', 0],
    ['userUsPerClient', '  of which user', 0],
    ['mainThreadUsPerClient', '  of which main thread', 0],
    ['disconnectCpuUsPerClient', 'server CPU µs / disconnect (2 rooms left)', 0],
    ['clientCpuUsPerClient', 'client CPU µs / client', 0],
    ['secondsToLastJoin', 's until last joined (median)', 2],
    ['secondsToLastJoinMax', 's until last joined (worst)', 2],
    ['joinP50Ms', 'time to joined p50 ms', 0],
    ['joinP99Ms', 'time to joined p99 ms', 0],
    ['clients', 'clients (all storms)', 0],
    ['joined', 'joined both rooms', 0],
    ['failed', 'failed', 0],
    ['errors', '  why', 0],
    ['retries', 'reconnection attempts', 0],
    ['retriedBecause', '  after connect_error', 0],
    ['serverRssMB', 'server RSS MB (median)', 1],
    ['loopDelayP99Ms', 'event-loop delay p99 ms', 0],
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
      .map(([k, x]) => `${k} ${Number.isInteger(x) ? x : x.toFixed(2)}`)
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
  for (const bar of scenario.bars ?? []) {
    const rounds = bar.rounds ? ` by round: ${bar.rounds.map((r) => r.toFixed(3)).join(' ')};` : '';
    const ci = bar.ci ? ` (95% CI ${bar.ci[0].toFixed(3)}-${bar.ci[1].toFixed(3)})` : '';
    lines.push(
      `bar: ${bar.what}${rounds} ${bar.rounds ? 'median ' : ''}${fmt(bar.value, 3)}${ci} ` +
        `(limit ${bar.limit}) ${bar.holds ? 'HOLDS' : 'MISSED'}`,
    );
  }
  return lines.join('\n');
}

/**
 * The bars of issue 11 and of 0.2's cluster work, by scenario name: CPU per delivery (median of
 * per-round ratios to bare), p99 publish→receive ≤ 1.5× bare's everywhere, reconnect storm CPU
 * per connect+join ≤ 1.3× and no failure, idle RSS per connection ≤ 1.0×, cluster: 1 Redis
 * command per publish, Redis CPU per publish ≤ 1.2× the stock adapter's, each node receiving
 * only its rooms.
 */
export function cpuLimit(name) {
  if (/^cluster-\d+-rooms/.test(name)) return 1.2; // cluster many-rooms
  if (/^cluster-\d+$/.test(name)) return 1.05; // cluster fan-out: the fan-out bar
  if (name.startsWith('fanout')) return 1.05;
  if (name.startsWith('rooms')) return 1.15;
  if (name.startsWith('http')) return 1.2; // http and http-batch
  return null;
}

/** A bar on the median of per-round roomcast÷bare ratios of `field` (the pooled ratio without rounds). */
function ratioBar(scenario, field, what, limit) {
  const { roomcast, bare } = scenario.results;
  const rounds = roundRatios(scenario, field);
  const value = rounds ? median(rounds) : ratio(roomcast[field], bare[field]);
  return {
    what: `roomcast÷bare ${what}${rounds ? ` (median of ${rounds.length} rounds)` : ''}`,
    field,
    value,
    limit,
    holds: value !== null && value <= limit,
    ...(rounds ? { rounds, ci: bootstrapMedian(rounds) } : {}),
  };
}

/** The project's bars that a scenario's figures can be checked against. */
export function bars(scenario) {
  const { roomcast, bare } = scenario.results;
  const out = [];
  if (!roomcast || !bare) return out;
  if (['broadcast', 'http', 'http-batch', 'cluster'].includes(scenario.kind)) {
    const limit = cpuLimit(scenario.name);
    if (limit !== null) out.push(ratioBar(scenario, 'cpuUsPerDelivery', 'CPU/delivery', limit));
    out.push(ratioBar(scenario, 'latencyP99Ms', 'p99 publish→receive', 1.5));
  }
  if (scenario.kind === 'storm') {
    out.push(ratioBar(scenario, 'cpuUsPerClient', 'CPU per connect+join', 1.3));
    out.push({
      what: 'roomcast failed connect/join (all rounds)',
      value: roomcast.failed,
      limit: 0,
      holds: roomcast.failed === 0,
    });
  }
  if (scenario.kind === 'idle') {
    const r = ratio(roomcast.rssKBPerConnection, bare.rssKBPerConnection);
    out.push({ what: 'roomcast÷bare RSS/connection', value: r, limit: 1.0, holds: r !== null && r <= 1.0 });
  }
  if (scenario.kind === 'cluster' && roomcast.redisPublishCommandsPerPublish !== undefined) {
    const v = roomcast.redisPublishCommandsPerPublish;
    out.push({ what: 'roomcast Redis cmds/publish', value: v, limit: 1, holds: v !== null && v <= 1.0001 });
    out.push(ratioBar(scenario, 'redisCpuUsPerPublish', 'Redis CPU/publish', 1.2));
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
