/**
 * The scenario catalogue. Each factory turns the options into cases `{ name, kind, description,
 * params, measure(targets), before?, after?, unavailable? }`; `measure` resolves with
 * `{ results: { [target]: figures }, perRound? }`.
 */
import { medianOf } from '../lib/report.mjs';
import { runBroadcast } from './broadcast.mjs';
import { runIdle } from './idle.mjs';
import { runShards } from './shards.mjs';
import { runStorm } from './storm.mjs';

const num = (v) => Number(v);
const list = (v) => String(v).split(',').filter(Boolean).map(Number);

function common(opts, profileDir) {
  return {
    duration: num(opts.duration),
    rounds: num(opts.rounds),
    warmup: num(opts.warmup),
    procs: num(opts.procs),
    payloadBytes: num(opts.payload),
    profileDir,
  };
}

function fanout(opts, profileDir) {
  return list(opts.fanout).map((n) => {
    const rate = Math.max(1, Math.round(num(opts['fanout-deliveries']) / n));
    const name = `fanout-${n}`;
    const params = {
      ...common(opts, profileDir),
      label: name,
      rooms: Array(n).fill('bench:fanout'),
      publishRooms: ['bench:fanout'],
      rate,
    };
    return {
      name,
      kind: 'broadcast',
      description: `1 room × ${n} subscribers, ${rate} msg/s for ${params.duration} s, ${params.payloadBytes} B padding`,
      params: { subscribers: n, rate, duration: params.duration, payloadBytes: params.payloadBytes },
      measure: (targets) => runBroadcast(targets, params),
    };
  });
}

function manyRooms(opts, profileDir) {
  const rooms = num(opts.rooms);
  const rate = num(opts['rooms-rate']);
  const names = Array.from({ length: rooms }, (_, r) => `bench:room${r}`);
  const all = list(opts.members);
  return all.map((members) => {
    const name = all.length === 1 ? 'rooms' : `rooms-${members}`;
    const params = {
      ...common(opts, profileDir),
      label: name,
      rooms: Array.from({ length: rooms * members }, (_, i) => names[Math.floor(i / members)]),
      publishRooms: names,
      rate,
    };
    return {
      name,
      kind: 'broadcast',
      description: `${rooms} rooms × ${members} members, ${rate} msg/s spread over the rooms for ${params.duration} s`,
      params: { rooms, members, rate, duration: params.duration, payloadBytes: params.payloadBytes },
      measure: (targets) => runBroadcast(targets, params),
    };
  });
}

function idle(opts, profileDir) {
  const n = num(opts.idle);
  const params = {
    procs: num(opts.procs),
    profileDir,
    label: 'idle',
    rooms: Array.from({ length: n }, (_, i) => `bench:idle${Math.floor(i / 10)}`),
  };
  return [
    {
      name: 'idle',
      kind: 'idle',
      description: `${n} idle connections, each joined to one room of 10; RSS after a forced GC`,
      params: { connections: n, membersPerRoom: 10 },
      measure: (targets) => repeated(targets, num(opts.repeat), (t) => runIdle(t, params)),
    },
  ];
}

/**
 * Cluster: N nodes over a redis-server of each target's own. Fan-out: one room whose subscribers
 * are spread over the nodes. Rooms: each room's members all on one node (room r on node r % N),
 * publishes spread over all rooms from node 0; a node should then receive only its own rooms.
 */
function cluster(opts, profileDir) {
  const cases = [];
  for (const nodes of list(opts.nodes)) {
    const subs = num(opts['cluster-subs']);
    const rate = num(opts['cluster-rate']);
    const fan = {
      ...common(opts, profileDir),
      label: `cluster-${nodes}`,
      nodes,
      rooms: Array(subs).fill('bench:cluster'),
      publishRooms: ['bench:cluster'],
      rate,
    };
    cases.push({
      name: `cluster-${nodes}`,
      kind: 'cluster',
      description:
        `${nodes} nodes over Redis, 1 room × ${subs} subscribers spread over the nodes, ${rate} msg/s ` +
        `from node 0 for ${fan.duration} s (roomcast sharded adapter; bare stock classic createAdapter)`,
      params: { nodes, subscribers: subs, rate, duration: fan.duration, payloadBytes: fan.payloadBytes },
      measure: (targets) => runBroadcast(targets, fan),
    });
    const rooms = num(opts['cluster-rooms']);
    const members = 5;
    const roomsRate = num(opts['cluster-rooms-rate']);
    const names = Array.from({ length: rooms }, (_, r) => `bench:crooms${r}`);
    const spread = {
      ...common(opts, profileDir),
      label: `cluster-${nodes}-rooms`,
      nodes,
      rooms: Array.from({ length: rooms * members }, (_, i) => names[Math.floor(i / members)]),
      nodeOf: (i) => Math.floor(i / members) % nodes,
      publishRooms: names,
      rate: roomsRate,
    };
    cases.push({
      name: `cluster-${nodes}-rooms`,
      kind: 'cluster',
      share: 1 / nodes,
      description:
        `${nodes} nodes, ${rooms} rooms × ${members} members, each room on one node (r % ${nodes}), ` +
        `${roomsRate} msg/s over all rooms from node 0 for ${spread.duration} s`,
      params: { nodes, rooms, members, rate: roomsRate, duration: spread.duration },
      measure: (targets) => runBroadcast(targets, spread),
    });
  }
  return cases;
}

function httpPublish(opts, profileDir) {
  const n = num(opts['http-subs']);
  const members = num(opts['http-members']);
  const rate = num(opts['http-rate']);
  const names = Array.from({ length: Math.ceil(n / members) }, (_, r) => `bench:http${r}`);
  const params = {
    ...common(opts, profileDir),
    label: 'http',
    http: true,
    rooms: Array.from({ length: n }, (_, i) => names[Math.floor(i / members)]),
    publishRooms: names,
    rate,
  };
  return [
    {
      name: 'http',
      kind: 'http',
      description:
        `${n} subscribers in ${names.length} rooms of ${members}, ${rate} HTTP publishes/s ` +
        `(roomcast POST /v1/publish, bare POST /publish -> io.to(room).emit) for ${params.duration} s`,
      params: { subscribers: n, members, rate, duration: params.duration, payloadBytes: params.payloadBytes },
      measure: (targets) => runBroadcast(targets, params),
    },
  ];
}

/**
 * HTTP batch: `POST /v1/batch` of `batch` messages, one to each of `batch` rooms (consecutive
 * rooms, round-robin), against bare's `POST /batch` doing one `io.to(room).emit` per message.
 */
function httpBatch(opts, profileDir) {
  const n = num(opts['batch-subs']);
  const members = num(opts['batch-members']);
  const rate = num(opts['batch-rate']);
  const batch = num(opts['batch-size']);
  const names = Array.from({ length: Math.ceil(n / members) }, (_, r) => `bench:batch${r}`);
  const params = {
    ...common(opts, profileDir),
    label: 'http-batch',
    http: true,
    batch,
    rooms: Array.from({ length: n }, (_, i) => names[Math.floor(i / members)]),
    publishRooms: names,
    rate,
  };
  return [
    {
      name: 'http-batch',
      kind: 'http-batch',
      description:
        `${n} subscribers in ${names.length} rooms of ${members}, ${rate} HTTP requests/s of ${batch} ` +
        `messages to ${Math.min(batch, names.length)} rooms (roomcast POST /v1/batch, bare POST /batch -> ` +
        `${batch} × io.to(room).emit) for ${params.duration} s`,
      params: {
        subscribers: n,
        members,
        rate,
        batch,
        duration: params.duration,
        payloadBytes: params.payloadBytes,
      },
      measure: (targets) => runBroadcast(targets, params),
    },
  ];
}

/** Reconnect storm: `storm` clients connect and join two rooms each, all at once, per round. */
function storm(opts, profileDir) {
  const clients = num(opts.storm);
  const roomCount = Math.max(1, Math.round((clients * 2) / num(opts['storm-members'])));
  const params = {
    clients,
    roomCount,
    rounds: num(opts.rounds),
    procs: num(opts.procs),
    deadlineMs: num(opts['storm-deadline']) * 1000,
    profileDir,
    label: 'storm',
  };
  return [
    {
      name: 'storm',
      kind: 'storm',
      description:
        `reconnect storm: ${clients} clients connect and join 2 rooms each (${roomCount} rooms of ` +
        `${num(opts['storm-members'])}), all at once, from ${params.procs} processes; roomcast with a ` +
        `token each (distinct users), bare with no auth; ${params.rounds} alternating rounds`,
      params: {
        clients,
        rooms: roomCount,
        membersPerRoom: num(opts['storm-members']),
        rounds: params.rounds,
      },
      measure: (targets) => runStorm(targets, params),
    },
  ];
}

/** Runs each target `repeat` times, alternating the order; figures are medians. */
async function repeated(targets, repeat, run) {
  const runs = Object.fromEntries(targets.map((t) => [t, []]));
  for (let i = 0; i < repeat; i++) {
    for (const t of i % 2 ? [...targets].reverse() : targets) runs[t].push(await run(t));
  }
  const results = Object.fromEntries(targets.map((t) => [t, medianOf(runs[t])]));
  return { results, runs: repeat, allRuns: runs };
}

/**
 * Redis Cluster: one node's engine publishing to many rooms on 1 Redis, on 1 Redis with Sentinel's
 * failover check, and on a 3-shard Redis Cluster (bench/scenarios/shards.mjs). Its own targets.
 */
function redisShards(opts) {
  const params = {
    rooms: num(opts.rooms),
    inflight: num(opts['shards-inflight']),
    duration: num(opts.duration),
    warmup: num(opts.warmup),
    shards: 3,
  };
  return [
    {
      name: 'redis-cluster',
      kind: 'shards',
      description:
        `one node's engine, ${params.rooms} rooms, ${params.inflight} publishes in flight for ` +
        `${params.duration} s: 1 Redis, 1 Redis with the failover check (Sentinel), a 3-shard Redis Cluster`,
      params,
      measure: () => runShards(params),
    },
  ];
}

export const SCENARIOS = [fanout, manyRooms, idle, cluster, httpPublish, httpBatch, storm, redisShards];
