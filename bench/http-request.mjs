#!/usr/bin/env node
/**
 * Server CPU per server-API request, with nobody in the rooms: what the HTTP side costs before any
 * delivery. `POST /v1/publish` to 100 rooms over 8 keep-alive connections, against roomcast, a bare
 * fastify route and a bare node:http handler, each in its own process; the measured windows
 * alternate between the servers, and the median of the rounds is printed. Run after `npm run build`:
 *
 *   node bench/http-request.mjs [--servers plain,fastify,roomcast] [--rounds 7] [--requests 10000]
 *
 * `roomcast:NAME` runs another build: ROOMCAST_DIST_NAME=/path/to/dist/index.js (a copy of dist/
 * next to node_modules, config/ and package.json), to compare two versions in one run.
 */
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    servers: { type: 'string', default: 'plain,fastify,roomcast' },
    rounds: { type: 'string', default: '7' },
    requests: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '8' },
  },
});
const ROUNDS = Number(values.rounds);
const N = Number(values.requests);
const C = Number(values.connections);
const KEY = 'bench-api-key-0001';
const pad = 'x'.repeat(100);

/** CPU µs the process has used (user + system), from /proc (clock ticks of 10 ms). */
function cpuMicros(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10_000;
}

function post(agent, port, i) {
  const body = JSON.stringify({
    room: `bench:room${i % 100}`,
    event: 'm',
    data: { t: Date.now(), seq: i, pad },
  });
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/publish',
        method: 'POST',
        agent,
        headers: {
          authorization: `Bearer ${KEY}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function load(server, n) {
  let i = 0;
  await Promise.all(
    Array.from({ length: C }, async () => {
      while (i < n) await post(server.agent, server.port, i++);
    }),
  );
}

const servers = [];
for (const name of values.servers.split(',')) {
  const [kind, build] = name.split(':');
  const dist = build ? process.env[`ROOMCAST_DIST_${build.toUpperCase()}`] : undefined;
  if (build && !dist) throw new Error(`set ROOMCAST_DIST_${build.toUpperCase()} for "${name}"`);
  const env = { ...process.env, BENCH_API_KEY: KEY, ...(dist ? { ROOMCAST_DIST: dist } : {}) };
  const child = fork(new URL('./servers/http-only.mjs', import.meta.url), [kind], { env });
  const { port } = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${name} exited (${code})`)));
  });
  const server = { name, child, port, agent: new Agent({ keepAlive: true, maxSockets: C }), rounds: [] };
  await load(server, Math.min(5000, N)); // warm-up
  servers.push(server);
}
for (let r = 0; r < ROUNDS; r++) {
  for (const s of servers) {
    const before = cpuMicros(s.child.pid);
    await load(s, N);
    s.rounds.push((cpuMicros(s.child.pid) - before) / N);
  }
}
console.log(
  `server CPU µs per POST /v1/publish (no room members), ${ROUNDS} rounds of ${N}, ${C} connections`,
);
for (const s of servers) {
  const sorted = [...s.rounds].sort((a, b) => a - b);
  const median = sorted[sorted.length >> 1];
  console.log(
    `${s.name.padEnd(20)} median ${median.toFixed(1).padStart(7)}   rounds ${s.rounds.map((x) => x.toFixed(0)).join(' ')}`,
  );
  s.agent.destroy();
  s.child.kill('SIGTERM');
}
