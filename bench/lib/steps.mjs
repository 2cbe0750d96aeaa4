/**
 * Where each microsecond and each byte of a publish goes: attributes a server's V8 CPU profile
 * (`.cpuprofile`) and sampling heap profile (`.heapprofile`, with the objects the GC collected
 * kept in) to the steps of a publish, by the function and file of each frame on the stack.
 *
 * A sample belongs to the outermost frame of a *claiming* step on its stack (ack, rate limit,
 * metrics, idempotency: everything they call is theirs, the encode and write of the ack included);
 * otherwise to the innermost frame that matches any step (JSON.stringify inside socket.io-parser's
 * encoder is encode, even though it runs inside the broadcast); otherwise to "other". GC and
 * `(program)` are their own rows; idle is left out.
 *
 * µs per publish of a step = its share of the main thread's sampled busy time × the server's
 * main-thread CPU per publish in the same run; what the process spent on other threads (V8's GC
 * helpers, libuv) is one more row, so the rows add up to the server's CPU per publish. Bytes per
 * publish = the heap profile's estimate of bytes allocated by the step ÷ messages published while
 * it sampled. Both profiles cover the measured windows only (not the connects or the warm-up).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The steps issue 11 asks the table for. */
const ISSUE = new Set([
  'decode',
  'validation',
  'rights',
  'ratelimit',
  'history',
  'envelope',
  'encode',
  'emit',
  'ack',
  'metrics',
  'idempotency',
]);

/** The steps, in the order printed. `claims`: everything below it on the stack is its. */
export const STEPS = [
  { id: 'read', label: 'read (socket, WebSocket frame)' },
  { id: 'http', label: 'HTTP (node http, fastify routing/hooks)' },
  { id: 'decode', label: 'decode (socket.io-parser, JSON body)' },
  { id: 'dispatch', label: 'dispatch (handler, events, promises)' },
  { id: 'validation', label: 'validation (schema, room name, payload)' },
  { id: 'auth', label: 'auth (JWT verify, API key)' },
  { id: 'rights', label: 'rights' },
  { id: 'ratelimit', label: 'rate limit', claims: true },
  { id: 'idempotency', label: 'idempotency', claims: true },
  { id: 'history', label: 'offset and history' },
  { id: 'envelope', label: 'envelope (id, ts, draft)' },
  { id: 'encode', label: 'encode (socket.io-parser, engine.io-parser)' },
  { id: 'emit', label: 'emit (hub, adapter, per-socket send, ws frame)' },
  { id: 'write', label: 'write (streams, writev)' },
  { id: 'ack', label: 'ack (build, encode, send)', claims: true },
  { id: 'metrics', label: 'metrics (prom-client, counters)', claims: true },
  { id: 'gc', label: 'GC (main thread)' },
  // The bench's own IPC and the profiler's start in the server: left out, like idle.
  { id: 'bench', label: 'bench harness (left out)', claims: true, excluded: true },
  { id: 'other', label: 'other (debug(), timers, runtime)' },
];

const require = createRequire(import.meta.url);

/** The line (1-based) of the function `Socket.ack(id)` returns, in the installed socket.io. */
function ackClosureLine() {
  try {
    const lines = readFileSync(join(dirname(require.resolve('socket.io')), 'socket.js'), 'utf8').split('\n');
    const at = lines.findIndex((l) => /^\s+ack\(id\) \{/.test(l));
    for (let i = at; at >= 0 && i < at + 10; i++) if (/return function/.test(lines[i])) return i + 1;
  } catch {}
  return -1;
}
export const ACK_LINE = ackClosureLine();

const pkg = (url) => /node_modules\/((?:@[^/]+\/)?[^/]+)\/(.*)$/.exec(url);

/** The step of one frame, or null when the frame itself says nothing (its callers decide). */
export function stepOf({ functionName: fn, url, lineNumber }) {
  if (fn === '(garbage collector)') return 'gc';
  if (fn === '(program)' || fn === '(root)') return null;
  if (!url) {
    if (fn === 'writev' || fn === 'writeBuffer' || fn === 'writeUtf8String' || fn === 'writeLatin1String')
      return 'write';
    return null; // natives (JSON.stringify, ...): their caller's step
  }
  if (url.includes('/bench/')) return url.includes('/bench/servers/bare.mjs') ? 'dispatch' : 'bench';
  const dist = url.indexOf('/dist/');
  const m = pkg(url);
  if (m) {
    const [, name, file] = m;
    switch (name) {
      case 'socket.io-parser':
        if (/is-binary/.test(file)) return 'encode';
        if (/^(encode|encodeAsString|encodeAsBinary|deconstructPacket)$/.test(fn)) return 'encode';
        return 'decode';
      case 'engine.io-parser':
        return /encode/i.test(fn) || /encode/.test(file) ? 'encode' : 'decode';
      case 'socket.io-adapter':
        return /encode/i.test(fn) ? 'encode' : 'emit';
      case 'socket.io':
        if (file === 'dist/socket.js' && lineNumber + 1 === ACK_LINE) return 'ack';
        // One socket's own packet: an ack here (broadcasts go through the adapter). The heap
        // profiler does not see the inlined ack closure, so this is how its bytes are found.
        if (file === 'dist/socket.js' && fn === 'packet') return 'ack';
        if (/broadcast-operator/.test(file)) return 'emit';
        if (/^(packet|_packet|writeToEngine)$/.test(fn)) return 'emit';
        return 'dispatch';
      case 'engine.io':
        if (/^(onPacket|onData|onMessage)$/.test(fn)) return 'read';
        return 'emit';
      case 'ws':
        return /receiver/.test(file) || /^(socketOnData|receiverOn)/.test(fn) ? 'read' : 'emit';
      case 'zod':
      case 'fastify-type-provider-zod':
        return 'validation';
      case 'limiter':
      case '@fastify/rate-limit':
        return 'ratelimit';
      case 'prom-client':
        return 'metrics';
      case 'jsonwebtoken':
      case 'jws':
      case 'jwa':
        return 'auth';
      case 'secure-json-parse':
        return 'decode';
      case 'fast-json-stringify':
        return 'encode';
      case 'fastify':
        return /contentTypeParser|content-type-parser/.test(file) ? 'decode' : 'http';
      case 'find-my-way':
      case 'light-my-request':
      case 'avvio':
      case '@fastify/cors':
        return 'http';
      case 'debug':
        return 'other';
      default:
        return null;
    }
  }
  if (dist >= 0) {
    const file = url.slice(dist + 6);
    if (/idempot/i.test(fn)) return 'idempotency';
    if (file.startsWith('http/metrics') || file.startsWith('http/transport-tracker')) return 'metrics';
    if (file.startsWith('socket/schemas') || file === 'errors.js') return 'validation';
    if (file.startsWith('http/schemas')) return 'validation';
    if (file.startsWith('rooms/names') || file.startsWith('rooms/payload')) return 'validation';
    if (file.startsWith('rooms/rights')) return 'rights';
    if (file.startsWith('rooms/patterns')) return null; // rights, or the history/presence rule lookup
    if (file.startsWith('auth/') || file.startsWith('http/api-keys')) return 'auth';
    if (file.startsWith('rooms/manager')) {
      if (fn === 'require') return 'rights';
      if (fn === 'roomName' || fn === 'checkMessage' || fn === 'checkEventName') return 'validation';
      if (fn === 'historyPolicy') return 'history';
      if (fn === 'publish') return 'envelope';
      return 'dispatch';
    }
    if (file.startsWith('rooms/message-id')) return 'envelope';
    if (file.startsWith('socket/event-limit')) return 'ratelimit';
    if (file.startsWith('socket/connection')) return 'dispatch';
    if (file.startsWith('backends/')) return 'history';
    if (file.startsWith('hub/') || file.startsWith('socket/namespaces')) return 'emit';
    if (file.startsWith('http/publish')) return 'dispatch';
    return 'dispatch';
  }
  if (url.startsWith('node:')) {
    if (/crypto\/random/.test(url)) return 'envelope'; // randomUUID (an envelope's id before 0.2)
    if (/streams\/writable|stream_base_commons/.test(url)) return /onStreamRead/.test(fn) ? 'read' : 'write';
    if (/streams\/readable|node:net/.test(url)) return 'read';
    if (/_http_|node:http/.test(url)) return 'http';
    if (/task_queues|node:events|timers/.test(url)) return null;
    return null;
  }
  return null;
}

/** Step of every node of a tree (`children` ids or nested nodes), outermost claim or innermost match. */
function assign(root, childrenOf) {
  const out = new Map();
  const claiming = new Set(STEPS.filter((s) => s.claims).map((s) => s.id));
  const stack = [[root, null, null]];
  while (stack.length) {
    const [node, claim, inner] = stack.pop();
    const own = stepOf(node.callFrame);
    const c = claim ?? (own && claiming.has(own) ? own : null);
    const i = own ?? inner;
    out.set(node, c ?? i ?? 'other');
    for (const child of childrenOf(node)) stack.push([child, c, i]);
  }
  return out;
}

/** µs of main-thread busy time by step in a `.cpuprofile` (idle excluded). */
export function cpuBySteps(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const root = profile.nodes.find((n) => n.callFrame.functionName === '(root)') ?? profile.nodes[0];
  const step = assign(root, (n) => (n.children ?? []).map((id) => byId.get(id)));
  const out = Object.fromEntries(STEPS.map((s) => [s.id, 0]));
  let busy = 0;
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i]);
    if (node.callFrame.functionName === '(idle)') continue;
    const us = timeDeltas[i] ?? 0; // as bench/profile-top.mjs counts it
    const id = step.get(node);
    out[id] += us;
    if (id !== 'bench') busy += us;
  }
  return { byStep: out, busyUs: busy };
}

/** Bytes allocated by step in a sampling `.heapprofile` (V8's estimate of all bytes allocated). */
export function bytesBySteps(profile) {
  const step = assign(profile.head, (n) => n.children ?? []);
  const out = Object.fromEntries(STEPS.map((s) => [s.id, 0]));
  let total = 0;
  for (const [node, id] of step) {
    out[id] += node.selfSize;
    if (id !== 'bench') total += node.selfSize;
  }
  return { byStep: out, totalBytes: total };
}

const read = (file) => {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
};

/**
 * The per-step table of one scenario of a results file: for each target, µs of server CPU and
 * bytes allocated per unit (a publish; a connect+join in the storm). Null when profiles are missing.
 */
export function stepsOf(scenario, profileDir) {
  const targets = Object.keys(scenario.results ?? {});
  const cols = [];
  for (const t of targets) {
    const r = scenario.results[t];
    const label = `${scenario.name}-${t}`.replaceAll('/', '_');
    const cpu = read(`${profileDir}/${label}.cpuprofile`);
    if (!cpu) continue;
    const heap = read(`${profileDir}/${label}.heapprofile`);
    let units;
    let cpuPerUnit;
    let mainPerUnit;
    if (scenario.kind === 'storm') {
      // The storm profiles its first round only.
      const first = scenario.perRound?.[0]?.[t];
      units = first?.joined;
      cpuPerUnit = first?.cpuUsPerClient;
      mainPerUnit = first?.mainThreadUsPerClient;
    } else {
      units = r.published;
      cpuPerUnit = r.cpuUsPerPublish;
      mainPerUnit =
        r.mainThreadUsPerDelivery && r.deliveries && r.published
          ? (r.mainThreadUsPerDelivery * r.deliveries) / r.published
          : cpuPerUnit;
    }
    if (!units || !cpuPerUnit) continue;
    const c = cpuBySteps(cpu);
    const h = heap ? bytesBySteps(heap) : null;
    cols.push({
      target: t,
      units,
      cpuPerUnit,
      mainPerUnit,
      offMainPerUnit: Math.max(0, cpuPerUnit - mainPerUnit),
      us: Object.fromEntries(STEPS.map((s) => [s.id, (c.byStep[s.id] / c.busyUs) * mainPerUnit])),
      share: Object.fromEntries(STEPS.map((s) => [s.id, c.byStep[s.id] / c.busyUs])),
      bytes: h ? Object.fromEntries(STEPS.map((s) => [s.id, h.byStep[s.id] / units])) : null,
      bytesPerUnit: h ? h.totalBytes / units : null,
    });
  }
  return cols.length ? { unit: scenario.kind === 'storm' ? 'client' : 'publish', cols } : null;
}

/** The table as text (terminal) or Markdown. */
export function formatSteps(name, steps, { markdown = false } = {}) {
  const { unit, cols } = steps;
  const head = ['step', ...cols.flatMap((c) => [`${c.target} µs/${unit}`, `${c.target} B/${unit}`])];
  const shown = STEPS.filter((s) => !s.excluded);
  const rows = shown
    .map((s) => [
      s.label,
      ...cols.flatMap((c) => [
        `${c.us[s.id].toFixed(1)} (${(c.share[s.id] * 100).toFixed(1)}%)`,
        c.bytes ? Math.round(c.bytes[s.id]).toLocaleString('en-US') : '-',
      ]),
    ])
    // The steps issue 11 names always; the others when not all zero.
    .filter((r, i) => ISSUE.has(shown[i].id) || r.slice(1).some((v) => !/^0\.0 \(0\.0%\)$|^0$|^-$/.test(v)));
  rows.push([
    'off the main thread (GC helpers, libuv)',
    ...cols.flatMap((c) => [c.offMainPerUnit.toFixed(1), '']),
  ]);
  rows.push([
    `total (server CPU / ${unit}; bytes allocated / ${unit})`,
    ...cols.flatMap((c) => [
      c.cpuPerUnit.toFixed(1),
      c.bytesPerUnit === null ? '-' : Math.round(c.bytesPerUnit).toLocaleString('en-US'),
    ]),
  ]);
  const plural = unit === 'publish' ? 'publishes' : `${unit}s`;
  const note = `${name}: per ${unit}, over ${cols.map((c) => `${c.units} ${plural} (${c.target})`).join(', ')}`;
  if (markdown) {
    return [
      note,
      '',
      `| ${head.join(' | ')} |`,
      `| --- |${cols.map(() => ' ---: | ---: |').join('')}`,
      ...rows.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n');
  }
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [`\n-- steps of ${note}`, line(head), ...rows.map(line)].join('\n');
}
