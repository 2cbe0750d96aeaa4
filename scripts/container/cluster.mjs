/**
 * The compose topology without a compose engine: a redis-server on this machine, three containers
 * of the proven image in cluster mode (host network, each on its own port, the env of
 * docker-compose.yml) and deploy/nginx.conf in front. Checks that a message published on any node
 * reaches a client connected through nginx, with one offset sequence, and then restarts the nodes
 * one by one as docs/deployment.md describes: the client on a draining node gets `closing`,
 * reconnects through nginx to another node and recovers what was published meanwhile with `since`.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ack, connect, messagesArrived, publish } from './clients.mjs';
import { startNginx } from './deploy-checks.mjs';
import {
  API_KEY,
  findBin,
  freePort,
  HARDENING,
  IMAGE,
  onCleanup,
  onFailure,
  podman,
  record,
  SECRET,
  sleep,
  stopContainer,
  waitForHttp,
  withTimeout,
} from './harness.mjs';
import { containerLogs } from './image.mjs';

const ROOM = 'chat:cluster';
const NAME = 'cluster: three nodes behind nginx';

export async function clusterChecks(contextDir) {
  const placeholder = join(contextDir, 'src', 'broker', 'redis-cluster.ts');
  if (existsSync(placeholder) && readFileSync(placeholder, 'utf8').includes('not built yet'))
    return record(NAME, 'SKIP', 'cluster mode is not built in this tree yet (src/backends/redis-cluster.ts)');
  const redisBin = findBin('redis-server');
  if (!redisBin) return record(NAME, 'SKIP', 'redis-server not installed');
  if (!findBin('nginx')) return record(NAME, 'SKIP', 'nginx not installed');

  const redisUrl = await startRedis(redisBin);
  const nodes = await startNodes(redisUrl);
  const lb = await startNginx((n) => nodes[n - 1].port);
  record(
    'cluster: redis + three nodes ready',
    'PASS',
    `${redisUrl}; ${nodes.map((n) => `${n.name.replace(/-\d+$/, '')} :${n.port}`).join(', ')}`,
  );

  let client = await connect(lb.url, 'cluster-client', 'websocket');
  const joined = await ack(client, 'join', { room: ROOM });
  if (!joined?.ok) record('cluster: join', 'FAIL', JSON.stringify(joined));
  for (const node of nodes) {
    const pub = await publish(node.url, ROOM, { from: node.name });
    if (!pub.ok) record(`cluster: publish on ${node.name}`, 'FAIL', pub.detail);
  }
  const got = await messagesArrived(client, 3).catch((err) =>
    record('cluster: fan-out', 'FAIL', err.message),
  );
  const offsets = got.map((m) => m.offset).join(',');
  record(
    'cluster: a publish on each node reaches the client behind nginx',
    offsets === '1,2,3' && new Set(got.map((m) => m.epoch)).size === 1 ? 'PASS' : 'FAIL',
    `offsets ${offsets}, epoch ${got[0].epoch}`,
  );

  let moves = 0;
  for (const [i, node] of nodes.entries()) {
    const dropped = client.closingEvents.length;
    const stop = await stopContainer(node.name);
    const drained = client.closingEvents.length > dropped;
    if (drained) {
      moves++;
      client = await recoverElsewhere(client, lb.url, nodes[(i + 1) % nodes.length], node);
    }
    const restarted = podman(['start', node.name]);
    const ready = restarted.status === 0 && (await waitForHttp(`${node.url}/readyz`));
    record(
      `cluster: rolling restart of ${node.name}`,
      stop.ok && ready ? 'PASS' : 'FAIL',
      `SIGTERM exit ${stop.exitCode} after ${stop.seconds.toFixed(1)}s, ready again: ${ready}` +
        `${drained ? '; the client was on it' : ''}`,
    );
  }
  record('cluster: the client was moved by the restarts', moves > 0 ? 'PASS' : 'FAIL', `${moves} time(s)`);
}

/**
 * The client's node is draining: a backend publishes on another node meanwhile; the client
 * reconnects through nginx and joins with `since` its last message, and must get the missed one.
 */
async function recoverElsewhere(client, lbUrl, liveNode, downNode) {
  const closing = client.closingEvents.at(-1);
  if (closing?.code !== 'shutting_down') record('cluster: closing on drain', 'FAIL', JSON.stringify(closing));
  const last = client.messages.at(-1);
  const missed = await publish(liveNode.url, ROOM, { while: `${downNode.name} restarts` });
  if (!missed.ok) record(`cluster: publish on ${liveNode.name} during the restart`, 'FAIL', missed.detail);
  client.close();
  const next = await connect(lbUrl, 'cluster-client', 'websocket');
  const reply = await ack(next, 'join', { room: ROOM, since: { offset: last.offset, epoch: last.epoch } });
  const recovered =
    reply?.ok && reply.recovered && reply.messages?.some((m) => m.offset === missed.result.offset);
  record(
    `cluster: client drained off ${downNode.name}, reconnected through nginx, recovered with since`,
    recovered ? 'PASS' : 'FAIL',
    `closing ${closing.code}; since offset ${last.offset} -> ${reply?.messages?.map((m) => m.offset).join(',')}` +
      ` recovered=${reply?.recovered}`,
  );
  next.messages.push(...reply.messages);
  return next;
}

async function startRedis(bin) {
  const port = await freePort();
  const child = spawn(
    bin,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: 'ignore',
    },
  );
  onCleanup(async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((res) => child.once('exit', res));
    child.kill('SIGTERM');
    await withTimeout(exited, 5000, 'redis-server exit').catch(() => child.kill('SIGKILL'));
  });
  // Ready when it accepts a connection: the nodes' /readyz waits for the rest.
  await sleep(300);
  if (child.exitCode !== null) record('cluster: redis-server', 'FAIL', `exited ${child.exitCode}`);
  return `redis://127.0.0.1:${port}/0`;
}

/** Three containers of the image with the env docker-compose.yml gives them (host network here). */
async function startNodes(redisUrl) {
  const nodes = [];
  for (const n of [1, 2, 3]) {
    const port = await freePort();
    const name = `roomcast-test-node-${n}-${process.pid}`;
    const env = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: String(port),
      ROOMCAST_REDIS_URL: redisUrl,
      ROOMCAST_JWT_SECRET: SECRET,
      ROOMCAST_API_KEYS: API_KEY,
      ROOMCAST_ALLOWED_ORIGINS: 'https://app.example.com',
    };
    const args = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    const run = podman([
      'run',
      '-d',
      '--name',
      name,
      '--network',
      'host',
      '--health-interval=disable',
      ...HARDENING,
      ...args,
      IMAGE,
    ]);
    if (run.status !== 0) record(`cluster: start ${name}`, 'FAIL', run.stderr.trim());
    onCleanup(() => podman(['rm', '-f', '-t', '0', name], { timeout: 30_000 }));
    onFailure(`logs of ${name}`, () => containerLogs(name));
    nodes.push({ name, port, url: `http://127.0.0.1:${port}` });
  }
  for (const node of nodes) {
    if (!(await waitForHttp(`${node.url}/readyz`))) {
      const logs = podman(['logs', '--tail', '15', node.name]);
      record(`cluster: ${node.name} ready`, 'FAIL', `no 200 from /readyz\n${logs.stdout}${logs.stderr}`);
    }
  }
  return nodes;
}
