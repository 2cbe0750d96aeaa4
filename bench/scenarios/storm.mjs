/**
 * Reconnect storm: N clients connect and join two rooms each, all at once, as after a node
 * restart. roomcast clients carry a token each (distinct users: a `sub` per client, subscribe
 * right for `bench:*`), bare ones connect and join with no auth. Each round runs one storm per
 * target (alternating order), then disconnects every client and waits for the server to count
 * none. Reported per storm: the server's CPU from just before the first connect to the last
 * join's ack, per client that joined both rooms (one connect + two joins); the time from the
 * start until the last client had joined; and the clients that failed (a connection refused, a
 * join refused, or not joined within the deadline). socket.io-client's default reconnection is on,
 * so a connection that fails at the transport level is retried as a real client would (counted
 * as retries); a refusal by the server is not retried and counts as failed.
 */

import { availableParallelism } from 'node:os';
import { createHistogram, merge, summary } from '../lib/hist.mjs';
import { machineCpu } from '../lib/machine.mjs';
import { now, sleep } from '../lib/proc.mjs';
import { SECRET, startServer, startSubscribers, stopAll } from '../lib/setup.mjs';

/**
 * @param {string[]} targets
 * @param {{ clients: number, roomCount: number, rounds: number, procs: number, deadlineMs: number,
 *   profileDir?: string, label: string }} p
 */
export async function runStorm(targets, p) {
  const procs = startSubscribers(p.procs);
  const servers = {};
  try {
    for (const t of targets) {
      progress(`${p.label}: starting ${t}`);
      servers[t] = await startServer(t, { label: `${p.label}-${t}` });
    }
    // Client i is on process i % procs and joins rooms 2i and 2i+1 (mod the room count).
    const shares = procs.map(() => []);
    for (let i = 0; i < p.clients; i++) {
      shares[i % procs.length].push({
        index: i,
        rooms: [`bench:storm${(2 * i) % p.roomCount}`, `bench:storm${(2 * i + 1) % p.roomCount}`],
      });
    }
    const rounds = Math.max(1, p.rounds);
    const runs = Object.fromEntries(targets.map((t) => [t, []]));
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 ? [...targets].reverse() : targets;
      for (const t of order) {
        const profile = p.profileDir && r === 0 ? `${p.profileDir}/${servers[t].label}` : undefined;
        progress(`${p.label}: round ${r + 1}/${rounds} ${t}: connecting ${p.clients} clients`);
        const run = await stormOnce(servers[t], t, procs, shares, p, profile);
        progress(
          `${p.label}: round ${r + 1}/${rounds} ${t}: ${run.joined} joined, ${run.failed} failed, ` +
            `${run.secondsToLastJoin.toFixed(2)} s, ${run.cpuUsPerClient?.toFixed(0)} µs CPU per client`,
        );
        runs[t].push(run);
      }
    }
    const results = Object.fromEntries(targets.map((t) => [t, pool(runs[t])]));
    const perRound = Array.from({ length: rounds }, (_, r) =>
      Object.fromEntries(targets.map((t) => [t, runs[t][r]])),
    );
    return { results, perRound };
  } finally {
    await Promise.allSettled(procs.map((s) => s.request('stormClose', {}, 10_000)));
    await stopAll([...procs, ...Object.values(servers)]);
  }
}

function progress(line) {
  process.stderr.write(`  ${line}\n`);
}

async function stormOnce(server, target, procs, shares, p, profile) {
  await Promise.all(
    procs.map((proc, i) =>
      proc.request('stormPrepare', { url: server.url, target, clients: shares[i], secret: SECRET }),
    ),
  );
  await server.request('gc');
  if (profile) await server.request('profileStart', { heap: true });
  const before = await server.request('stats');
  const machine0 = machineCpu();
  const startAt = now() + 300;
  const parts = await Promise.all(
    procs.map((proc) =>
      proc.request('stormGo', { startAt, deadlineMs: p.deadlineMs }, p.deadlineMs + 30_000),
    ),
  );
  const after = await server.request('stats');
  const machine1 = machineCpu();
  if (profile) {
    await server.request('profileStop', {
      file: `${profile}.cpuprofile`,
      heapFile: `${profile}.heapprofile`,
    });
  }
  const closing = await server.request('stats');
  await Promise.all(procs.map((proc) => proc.request('stormClose', {}, 10_000)));
  // Every client gone on the server before the next storm; the server's CPU for that (the
  // disconnects, every room left) is reported per client too, apart from the connect figure.
  const deadline = now() + 20_000;
  let gone = closing;
  while (gone.clients > 0 && now() < deadline) {
    await sleep(100);
    gone = await server.request('stats');
  }
  await sleep(500);

  const times = createHistogram();
  const errors = {};
  const retriedBecause = {};
  let joined = 0;
  let failed = 0;
  let retries = 0;
  let lastJoinedAt = startAt;
  let clientCpuUs = 0;
  for (const part of parts) {
    merge(times, part.times);
    joined += part.joined;
    failed += part.failed;
    retries += part.retries;
    clientCpuUs += part.cpuUs;
    lastJoinedAt = Math.max(lastJoinedAt, part.lastJoinedAt);
    for (const [k, v] of Object.entries(part.errors)) errors[k] = (errors[k] ?? 0) + v;
    for (const [k, v] of Object.entries(part.retriedBecause ?? {}))
      retriedBecause[k] = (retriedBecause[k] ?? 0) + v;
  }
  const cpuUs = after.cpuUs - before.cpuUs;
  const t = summary(times);
  const busyUs = machine0 && machine1 ? machine1.busyUs - machine0.busyUs : null;
  const totalUs = machine0 && machine1 ? machine1.totalUs - machine0.totalUs : null;
  return {
    clients: p.clients,
    joined,
    failed,
    retries,
    retriedBecause,
    errors,
    cpuUs,
    userUs: after.userUs - before.userUs,
    cpuUsPerClient: joined ? cpuUs / joined : null,
    disconnectCpuUs: gone.cpuUs - closing.cpuUs,
    userUsPerClient: joined ? (after.userUs - before.userUs) / joined : null,
    mainThreadUsPerClient:
      joined && after.mainThreadUs !== null ? (after.mainThreadUs - before.mainThreadUs) / joined : null,
    clientCpuUsPerClient: joined ? clientCpuUs / joined : null,
    secondsToLastJoin: (lastJoinedAt - startAt) / 1000,
    joinP50Ms: t.p50,
    joinP99Ms: t.p99,
    serverRssMB: after.rss / 2 ** 20,
    loopDelayP99Ms: after.loopDelayP99Ms,
    otherBusyCores: totalUs
      ? Math.max(0, busyUs - cpuUs - clientCpuUs) / (totalUs / availableParallelism())
      : null,
  };
}

/** One target's storms pooled: sums of counts, CPU over all joined clients, medians of times. */
function pool(runs) {
  const sum = (f) => runs.reduce((a, r) => a + r[f], 0);
  const med = (f) => {
    const v = runs
      .map((r) => r[f])
      .filter((x) => typeof x === 'number')
      .sort((a, b) => a - b);
    if (!v.length) return null;
    const m = v.length >> 1;
    return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
  };
  const joined = sum('joined');
  const errors = {};
  const retriedBecause = {};
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
    for (const [k, v] of Object.entries(r.retriedBecause)) retriedBecause[k] = (retriedBecause[k] ?? 0) + v;
  }
  return {
    storms: runs.length,
    clients: sum('clients'),
    joined,
    failed: sum('failed'),
    retries: sum('retries'),
    retriedBecause,
    errors,
    cpuUsPerClient: joined ? sum('cpuUs') / joined : null,
    disconnectCpuUsPerClient: sum('disconnectCpuUs') / Math.max(1, sum('clients')),
    userUsPerClient: joined ? sum('userUs') / joined : null,
    mainThreadUsPerClient: med('mainThreadUsPerClient'),
    clientCpuUsPerClient: med('clientCpuUsPerClient'),
    secondsToLastJoin: med('secondsToLastJoin'),
    secondsToLastJoinMax: Math.max(...runs.map((r) => r.secondsToLastJoin)),
    joinP50Ms: med('joinP50Ms'),
    joinP99Ms: med('joinP99Ms'),
    serverRssMB: med('serverRssMB'),
    loopDelayP99Ms: med('loopDelayP99Ms'),
    otherBusyCores: med('otherBusyCores'),
  };
}
