/**
 * The delivery scenarios: fan-out (one room, many subscribers), many rooms of few members, and
 * (with several nodes and Redis) the cluster fan-out. A publisher publishes at a steady rate;
 * subscriber processes count and time what arrives.
 *
 * The targets run side by side: each has its own server(s), subscriber processes and publisher,
 * all connected at once, and the measured windows alternate between them (A B B A A B ...). On
 * shared cores the background load drifts; pairing neighbouring windows cancels most of it.
 * Each window reads the server's CPU just before its first publish and again after its last
 * delivery, so it covers exactly the measured messages (plus a few idle milliseconds of drain).
 */
import { availableParallelism } from 'node:os';
import { createHistogram, merge, summary } from '../lib/hist.mjs';
import { machineCpu } from '../lib/machine.mjs';
import { now, sleep } from '../lib/proc.mjs';
import { startRedis } from '../lib/redis.mjs';
import {
  API_KEY,
  openSubscribers,
  SECRET,
  startPublisher,
  startServer,
  startSubscribers,
  stopAll,
} from '../lib/setup.mjs';

/**
 * @param {string[]} targets  e.g. ['roomcast', 'bare']
 * @param {{ rooms: string[], publishRooms: string[], rate: number, duration: number, rounds: number,
 *   warmup: number, procs: number, payloadBytes: number, nodes?: number, http?: boolean,
 *   nodeOf?: (i: number) => number, profileDir?: string, label: string }} p
 *   `rooms[i]` is the room of subscriber connection i, on node `nodeOf(i)` (default i % nodes);
 *   `duration` is measured seconds per target. With `nodes` > 1 each target gets a redis-server
 *   of its own and its servers run in cluster mode over it.
 */
export async function runBroadcast(targets, p) {
  const rigs = [];
  try {
    for (const target of targets) {
      progress(`${p.label}: starting ${target} (${p.rooms.length} subscribers)`);
      rigs.push(await startRig(target, p));
    }
    for (const rig of rigs) await warmUp(rig, p);
    if (p.profileDir) await forServers(rigs, (s) => s.request('profileStart', { heap: true }));
    const rounds = Math.max(1, p.rounds);
    const windowSec = p.duration / rounds;
    const windows = Object.fromEntries(targets.map((t) => [t, []]));
    for (let r = 0; r < rounds; r++) {
      progress(`${p.label}: round ${r + 1}/${rounds}`);
      const order = r % 2 ? [...rigs].reverse() : rigs;
      for (const rig of order) {
        windows[rig.target].push(await measureWindow(rig, p, windowSec));
        await sleep(200);
      }
    }
    if (p.profileDir) {
      await forServers(rigs, (s) =>
        s.request('profileStop', {
          file: `${p.profileDir}/${s.label}.cpuprofile`,
          heapFile: `${p.profileDir}/${s.label}.heapprofile`,
        }),
      );
    }
    const results = {};
    for (const t of targets) results[t] = summarize(windows[t]);
    const perRound = Array.from({ length: rounds }, (_, r) =>
      Object.fromEntries(targets.map((t) => [t, summarize([windows[t][r]])])),
    );
    return { results, perRound };
  } finally {
    await Promise.allSettled(rigs.map(stopRig));
  }
}

function progress(line) {
  process.stderr.write(`  ${line}\n`);
}

function forServers(rigs, f) {
  return Promise.all(rigs.flatMap((rig) => rig.servers.map(f)));
}

/** One target's servers, subscribers and publisher, connected and joined. */
async function startRig(target, p) {
  const nodes = p.nodes ?? 1;
  const rig = { target, servers: [], subs: startSubscribers(p.procs), pub: undefined, seq: 0 };
  try {
    if (nodes > 1) rig.redis = await startRedis();
    for (let n = 0; n < nodes; n++) {
      rig.servers.push(
        await startServer(target, {
          redisUrl: rig.redis?.url,
          label: `${p.label}-${target}${nodes > 1 ? `-node${n}` : ''}`,
        }),
      );
    }
    const urls = rig.servers.map((s) => s.url);
    await openSubscribers(rig.subs, { target, urls, rooms: p.rooms, nodeOf: p.nodeOf });
    rig.members = countMembers(p.rooms);
    rig.pub = startPublisher();
    if (p.http) {
      await rig.pub.request('openHttp', { url: urls[0], target, apiKey: API_KEY });
    } else {
      // One publisher connection per 50 msg/s keeps under roomcast's 100 events/s/connection.
      await rig.pub.request('open', {
        url: urls[0],
        target,
        connections: Math.max(1, Math.ceil(p.rate / 50)),
        secret: SECRET,
      });
    }
    return rig;
  } catch (err) {
    await stopRig(rig);
    throw err;
  }
}

async function stopRig(rig) {
  await Promise.allSettled(rig.subs.map((s) => s.request('close', {}, 10_000)));
  await rig.pub?.request('close', {}, 5_000).catch(() => undefined);
  await stopAll([rig.pub, ...rig.subs, ...rig.servers]);
  await rig.redis?.stop();
}

/** Warm-up: JIT, buffers and (in cluster mode) subscriptions; not measured. */
async function warmUp(rig, p) {
  const total = Math.max(1, Math.round(p.rate * p.warmup));
  const run = await publish(rig, p, total, false);
  await drain(rig.subs, 'warm', expectedTotal(run.perRoom, rig.members));
}

const IGNORED = new Set(['info', 'ping']); // the bench's own reads of Redis

function sumSent(stats) {
  const out = {};
  for (const s of stats) for (const [k, v] of Object.entries(s.redis?.sent ?? {})) out[k] = (out[k] ?? 0) + v;
  return out;
}

function diffCounts(a, b) {
  const out = {};
  for (const [k, v] of Object.entries(b))
    if (!IGNORED.has(k) && v - (a[k] ?? 0) > 0) out[k] = v - (a[k] ?? 0);
  return out;
}

/** `total` publishes (with `p.batch`, requests of `p.batch` messages) at `p.rate` per second. */
function publish(rig, p, total, measured) {
  const seqBase = rig.seq;
  const batch = p.batch ?? 1;
  rig.seq += total * batch;
  return rig.pub.request(
    'run',
    { rooms: p.publishRooms, rate: p.rate, total, measured, payloadBytes: p.payloadBytes, seqBase, batch },
    (total / p.rate + 60) * 1000,
  );
}

async function measureWindow(rig, p, seconds) {
  await Promise.all(rig.subs.map((s) => s.request('reset')));
  await Promise.all(rig.servers.map((s) => s.request('resetLoopDelay')));
  const redis0 = rig.redis ? await rig.redis.stats() : null;
  const before = await Promise.all(rig.servers.map((s) => s.request('stats')));
  const machine0 = machineCpu();
  const run = await publish(rig, p, Math.max(1, Math.round(p.rate * seconds)), true);
  const expected = expectedTotal(run.perRoom, rig.members);
  const drained = await drain(rig.subs, 'received', expected);
  const after = await Promise.all(rig.servers.map((s) => s.request('stats')));
  const machine1 = machineCpu();
  const redis1 = rig.redis ? await rig.redis.stats() : null;
  const reports = await Promise.all(rig.subs.map((s) => s.request('report', { expected: run.perRoom })));
  let redis = null;
  if (redis0) {
    redis = {
      sent: diffCounts(sumSent(before), sumSent(after)),
      calls: diffCounts(redis0.calls, redis1.calls),
      cpuUs: redis1.cpuUs - redis0.cpuUs,
      // Pub/sub messages each node's subscriber connection received.
      receivedPerNode: after.map((s, i) => {
        const a = s.redis.received;
        const b = before[i].redis.received;
        return a.message + a.pmessage + a.smessage - (b.message + b.pmessage + b.smessage);
      }),
    };
  }
  return { run, expected, drained, before, after, reports, redis, machine0, machine1 };
}

function countMembers(rooms) {
  const members = {};
  for (const room of rooms) members[room] = (members[room] ?? 0) + 1;
  return members;
}

function expectedTotal(perRoom, members) {
  let total = 0;
  for (const [room, n] of Object.entries(perRoom)) total += n * (members[room] ?? 0);
  return total;
}

/**
 * Waits until the subscribers' `field` counts reach `expected`, or nothing has arrived for 3 s
 * (lost messages), or 60 s in all.
 */
async function drain(subs, field, expected) {
  const deadline = now() + 60_000;
  let last = -1;
  let lastChange = now();
  for (;;) {
    const counts = await Promise.all(subs.map((s) => s.request('counts')));
    const total = counts.reduce((a, c) => a + c[field], 0);
    if (total >= expected) return { complete: true, total };
    if (total !== last) {
      last = total;
      lastChange = now();
    }
    if (now() - lastChange > 3_000 || now() > deadline) return { complete: false, total };
    await sleep(20);
  }
}

const cores = () => availableParallelism();
const sum = (list, f) => list.reduce((a, x) => a + f(x), 0);

/** Figures over one or more measured windows of one target. */
function summarize(windows) {
  const latency = createHistogram();
  const acks = createHistogram();
  const errors = {};
  let published = 0;
  let requests = 0;
  let expected = 0;
  let deliveries = 0;
  let lost = 0;
  let short = 0;
  let extra = 0;
  let outOfOrder = 0;
  let cpuUs = 0;
  let userUs = 0;
  let mainUs = 0;
  let clientCpuUs = 0;
  let seconds = 0;
  let publishSeconds = 0;
  let complete = true;
  let envelopeBytes = 0;
  let loopDelay = 0;
  let machineBusyUs = 0;
  let machineTotalUs = 0;
  let benchCpuUs = 0;
  let rss = 0;
  const redis = { sent: {}, calls: {}, cpuUs: 0, receivedPerNode: [] };
  for (const w of windows) {
    for (const r of w.reports) {
      merge(latency, r.latency);
      deliveries += r.received;
      lost += r.missing;
      short += r.short;
      extra += r.extra;
      outOfOrder += r.outOfOrder;
      clientCpuUs += r.cpuUs;
      envelopeBytes = Math.max(envelopeBytes, r.envelopeBytes);
    }
    merge(acks, w.run.acks);
    for (const [code, n] of Object.entries(w.run.errors)) errors[code] = (errors[code] ?? 0) + n;
    published += w.run.ok;
    requests += w.run.requests ?? w.run.sent;
    expected += w.expected;
    complete &&= w.drained.complete;
    cpuUs += sum(w.after, (s) => s.cpuUs) - sum(w.before, (s) => s.cpuUs);
    userUs += sum(w.after, (s) => s.userUs) - sum(w.before, (s) => s.userUs);
    mainUs += sum(w.after, (s) => s.mainThreadUs ?? 0) - sum(w.before, (s) => s.mainThreadUs ?? 0);
    const lastAt = Math.max(...w.reports.map((r) => r.lastAt));
    seconds += (lastAt - w.run.startedAt) / 1000;
    publishSeconds += (w.run.lastSentAt - w.run.startedAt) / 1000;
    loopDelay = Math.max(loopDelay, ...w.after.map((s) => s.loopDelayP99Ms));
    rss = sum(w.after, (s) => s.rss);
    if (w.redis) addRedis(redis, w.redis);
    if (w.machine0 && w.machine1) {
      machineBusyUs += w.machine1.busyUs - w.machine0.busyUs;
      machineTotalUs += w.machine1.totalUs - w.machine0.totalUs;
    }
    benchCpuUs += sum(w.after, (s) => s.cpuUs) - sum(w.before, (s) => s.cpuUs);
    benchCpuUs += sum(w.reports, (r) => r.cpuUs) + w.run.cpuUs;
  }
  const lat = summary(latency);
  const ack = summary(acks);
  const result = {
    windows: windows.length,
    published,
    publishErrors: errors,
    publishRate: published / publishSeconds,
    expected,
    deliveries,
    lost,
    connectionsShort: short,
    duplicates: extra,
    outOfOrder,
    drainedCompletely: complete,
    deliveriesPerSec: deliveries / seconds,
    latencyP50Ms: lat.p50,
    latencyP99Ms: lat.p99,
    latencyMaxMs: lat.max,
    ackP50Ms: ack.p50,
    ackP99Ms: ack.p99,
    serverCpuMs: cpuUs / 1000,
    cpuUsPerDelivery: deliveries ? cpuUs / deliveries : null,
    userUsPerDelivery: deliveries ? userUs / deliveries : null,
    systemUsPerDelivery: deliveries ? (cpuUs - userUs) / deliveries : null,
    mainThreadUsPerDelivery: deliveries && mainUs ? mainUs / deliveries : null,
    clientCpuUsPerDelivery: deliveries ? clientCpuUs / deliveries : null,
    cpuUsPerPublish: published ? cpuUs / published : null,
    requests,
    cpuUsPerRequest: requests ? cpuUs / requests : null,
    serverCpuPercent: (cpuUs / 1e6 / seconds) * 100,
    serverRssMB: rss / 2 ** 20,
    loopDelayP99Ms: loopDelay,
    envelopeBytes,
    measuredSeconds: seconds,
    // Cores busy on the whole machine during the windows, and how much of that was not this bench.
    machineBusyCores: machineTotalUs ? (machineBusyUs / machineTotalUs) * cores() : null,
    otherBusyCores: machineTotalUs
      ? Math.max(0, machineBusyUs - benchCpuUs) / (machineTotalUs / cores())
      : null,
  };
  if (windows[0]?.redis) Object.assign(result, redisFigures(redis, published));
  return result;
}

function addTo(into, counts) {
  for (const [k, v] of Object.entries(counts)) into[k] = (into[k] ?? 0) + v;
}

function addRedis(into, w) {
  addTo(into.sent, w.sent);
  addTo(into.calls, w.calls);
  into.cpuUs += w.cpuUs;
  w.receivedPerNode.forEach((n, i) => {
    into.receivedPerNode[i] = (into.receivedPerNode[i] ?? 0) + n;
  });
}

/**
 * Redis per published message, from the nodes' side (commands sent, counted in each node by name,
 * scripts by SHA) and from Redis's side (INFO commandstats, which also counts the commands run
 * inside Lua scripts); and the pub/sub messages each node received per publish (1.0 = every node
 * gets every message). The publish path is the commands sent at least once per two publishes;
 * the rest (presence heartbeats, reaping) runs on timers, whatever the publish rate.
 */
function redisFigures(r, published) {
  const perPublish = (o) =>
    Object.fromEntries(
      Object.entries(o)
        .map(([k, v]) => [k, v / published])
        .sort((a, b) => b[1] - a[1]),
    );
  const sent = perPublish(r.sent);
  const sum = (entries) => entries.reduce((a, [, v]) => a + v, 0);
  const path = Object.entries(sent).filter(([, v]) => v >= 0.5);
  const background = Object.entries(sent).filter(([, v]) => v < 0.5);
  return {
    redisPublishCommandsPerPublish: sum(path),
    redisPublishCommands: Object.fromEntries(path),
    redisBackgroundCommandsPerPublish: sum(background),
    redisCommandsSentPerPublish: sum(Object.entries(sent)),
    redisCommandsByName: sent,
    redisCallsInsideRedisPerPublish: sum(Object.entries(perPublish(r.calls))),
    redisCallsByName: perPublish(r.calls),
    redisCpuMs: r.cpuUs / 1000,
    redisCpuUsPerPublish: r.cpuUs / published,
    redisMessagesPerNodePerPublish: r.receivedPerNode.map((n) => n / published),
  };
}
