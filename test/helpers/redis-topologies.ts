/**
 * Real-process Redis topologies for integration tests (Sentinel + Cluster).
 *
 * - Every process binds 127.0.0.1 only, on ports obtained from the OS (port 0 trick).
 * - No fixed sleeps: every wait is a poll with a bounded deadline (waitUntil).
 * - Every process is tracked; stop() SIGKILLs + awaits exit and removes temp dirs.
 *   A process 'exit' hook also SIGKILLs anything still alive (best effort).
 *
 * Requires Debian's redis-server / redis-sentinel / redis-cli (Redis >= 7.0 for
 * `cluster-port`, SPUBLISH/SSUBSCRIBE and CLUSTER SHARDS).
 */
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { Redis } from 'ioredis';
// ioredis depends on cluster-key-slot; same CRC16 as the server.
// eslint-disable-next-line @typescript-eslint/no-var-requires
import { hashSlot as calculateSlot } from '../../src/backends/redis-keys.js';

export const HOST = '127.0.0.1';
export interface Addr {
  host: string;
  port: number /** set when the topology was started with tls: true */;
  tls?: ConnectionOptions;
}

// ---------------------------------------------------------------- utilities

export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  { timeoutMs = 15_000, intervalMs = 50 }: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      // a single attempt must not outlive the deadline either (a hung socket would make the wait unbounded)
      let timer: NodeJS.Timeout | undefined;
      const remaining = Math.max(deadline - Date.now(), 0) + 1000;
      const v = await Promise.race([
        fn(),
        new Promise<never>((_, rej) => {
          timer = setTimeout(() => rej(new Error(`attempt of '${what}' hung > ${remaining}ms`)), remaining);
        }),
      ]).finally(() => clearTimeout(timer));
      if (v !== undefined && v !== null && v !== false) return v as T;
    } catch (e) {
      lastErr = e;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timeout after ${timeoutMs}ms waiting for ${what}` +
          (lastErr ? ` (last error: ${String(lastErr)})` : ''),
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Ask the OS for a free loopback TCP port. (Tiny race window; start() retries on EADDRINUSE.) */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

// biome-ignore lint/suspicious/noExplicitAny: a reply's shape depends on the command; callers narrow it
type Reply = any;

/** One-shot command on a short-lived connection; never retries, never queues. */
export async function cmd(addr: Addr, ...args: (string | number)[]): Promise<Reply> {
  const c = new Redis({
    host: addr.host,
    port: addr.port,
    tls: addr.tls,
    lazyConnect: true,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    connectTimeout: 1000,
    commandTimeout: 2000,
    enableReadyCheck: false,
  });
  c.on('error', () => {});
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      (async () => {
        await c.connect();
        return c.call(String(args[0]), ...args.slice(1).map(String));
      })(),
      new Promise<never>((_, rej) => {
        timer = setTimeout(() => rej(new Error(`cmd ${args[0]} to ${addr.port} hung > 3000ms`)), 3000);
      }),
    ]);
  } finally {
    clearTimeout(timer);
    c.disconnect();
  }
}

export function parseInfo(s: string): Record<string, string> {
  const o: Record<string, string> = {};
  for (const line of s.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) o[line.slice(0, i)] = line.slice(i + 1);
  }
  return o;
}

// ------------------------------------------------------------- processes

interface Proc {
  name: string;
  bin: string;
  args: string[];
  dir: string;
  port: number;
  child: ChildProcess | null;
  exited: Promise<void>;
}

const live = new Set<ChildProcess>();
const liveRoots = new Set<string>();
let exitHookInstalled = false;
function installExitHook() {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const killAll = () => {
    for (const c of live) {
      try {
        c.kill('SIGKILL');
      } catch {
        /* ignore */
      }
    }
    for (const d of liveRoots) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        /* ignore */
      }
    }
  };
  process.on('exit', killAll);
  // 'exit' does not run on signals: make Ctrl-C / timeout(1) not leak redis processes.
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

function spawnProc(p: Proc): void {
  installExitHook();
  const logFd = openSync(join(p.dir, `${p.name}.log`), 'a');
  const child = spawn(p.bin, p.args, { cwd: p.dir, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  live.add(child);
  p.child = child;
  p.exited = new Promise((r) =>
    child.once('exit', () => {
      live.delete(child);
      r();
    }),
  );
}

async function killProc(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const c = p.child;
  if (!c || c.exitCode !== null || c.signalCode !== null) return;
  c.kill(signal);
  await p.exited;
}

function logTail(p: Proc, n = 20): string {
  try {
    return readFileSync(join(p.dir, `${p.name}.log`), 'utf8')
      .split('\n')
      .slice(-n)
      .join('\n');
  } catch {
    return '';
  }
}

/** Spawn and wait until PING answers. Retries with fresh ports on bind races. */
async function startRedisLike(
  make: (
    port: number,
    extraPort: number,
  ) => { proc: Omit<Proc, 'child' | 'exited'>; writeFiles?: () => void },
  timeoutMs = 10_000,
  tls?: ConnectionOptions,
): Promise<Proc> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const extra = await freePort();
    const { proc, writeFiles } = make(port, extra);
    writeFiles?.();
    const p: Proc = { ...proc, child: null, exited: Promise.resolve() };
    spawnProc(p);
    let died = false;
    p.exited.then(() => {
      died = true;
    });
    try {
      await waitUntil(
        `${p.name} PING on ${port}`,
        async () => {
          if (died) throw new Error('process exited');
          return (await cmd({ host: HOST, port, tls }, 'PING')) === 'PONG';
        },
        { timeoutMs },
      );
      return p;
    } catch (e) {
      await killProc(p);
      const tail = logTail(p);
      if (/Address already in use|bind/i.test(tail) && attempt < 4) continue; // port race: retry
      throw new Error(`${p.name} failed to start: ${String(e)}\n--- log tail ---\n${tail}`);
    }
  }
  throw new Error('unreachable');
}

// Common flags: no persistence, loopback only.
// repl-diskless-sync-delay defaults to 5s in Redis 7: with it, every initial replica sync
// (and every rejoin after a restart) waits 5s. 0 makes topologies come up ~5s faster.
const NO_PERSIST = ['--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0'];
// With `persist`: an append-only file fsynced on every write, so a SIGKILL loses nothing acknowledged.
const PERSIST = [
  '--save',
  '',
  '--appendonly',
  'yes',
  '--appendfsync',
  'always',
  '--repl-diskless-sync-delay',
  '0',
];
const persistence = (persist?: boolean) => (persist ? PERSIST : NO_PERSIST);

// ============================================================== SENTINEL

export interface SentinelSetOptions {
  masterName?: string;
  downAfterMs?: number;
  failoverTimeoutMs?: number;
  quorum?: number;
  sentinels?: number;
  /**
   * TLS-only data nodes AND sentinels (port 0, tls-port N, tls-replication yes), with a throwaway CA
   * made by openssl. Every returned Addr carries `tls: { ca, servername }` for clients.
   */
  tls?: boolean;
  /** Data nodes keep an append-only file (fsync always): a restarted node comes back with its data. */
  persist?: boolean;
}

export interface TlsMaterial {
  dir: string;
  ca: string;
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** Throwaway CA + server cert for IP 127.0.0.1 (openssl CLI). */
export function makeTestCerts(dir: string): TlsMaterial {
  mkdirSync(dir, { recursive: true });
  const f = (n: string) => join(dir, n);
  const run = (...a: string[]) => execFileSync('openssl', a, { stdio: 'pipe' });
  run(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-days',
    '2',
    '-subj',
    '/CN=roomcast-test-ca',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
  );
  run(
    'req',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-keyout',
    f('server.key'),
    '-out',
    f('server.csr'),
  );
  writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  run(
    'x509',
    '-req',
    '-in',
    f('server.csr'),
    '-CA',
    f('ca.crt'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '2',
    '-out',
    f('server.crt'),
    '-extfile',
    f('ext.cnf'),
  );
  return {
    dir,
    ca: readFileSync(f('ca.crt'), 'utf8'),
    caFile: f('ca.crt'),
    certFile: f('server.crt'),
    keyFile: f('server.key'),
  };
}

export type SentinelKillTarget = 'primary' | 'replica' | `sentinel${number}` | 'currentPrimary';

export interface SentinelSet {
  masterName: string;
  sentinels: Addr[];
  /** Initial roles; after a failover use getMasterAddr(). */
  primary: Addr;
  replica: Addr;
  dirs: string[];
  /** present when started with tls: true — pass `clientTls` as ioredis `tls` and `sentinelTLS` */
  clientTls?: ConnectionOptions;
  getMasterAddr(): Promise<Addr>;
  /** Poll SENTINEL get-master-addr-by-name on all live sentinels until a majority reports an address != from, and it answers role:master. */
  waitForFailover(opts?: { from?: Addr; timeoutMs?: number }): Promise<{ newPrimary: Addr; ms: number }>;
  /** SIGKILL a process ('currentPrimary' resolves through sentinel). Returns the killed address. */
  kill(which: SentinelKillTarget): Promise<Addr>;
  /** Restart a previously killed data node on the same port/dir (sentinel will turn it into a replica). */
  restart(which: 'primary' | 'replica'): Promise<void>;
  /** SIGSTOP / SIGCONT a data node: frozen, its connections open. */
  freeze(which: 'primary' | 'replica'): void;
  thaw(which: 'primary' | 'replica'): void;
  stop(): Promise<void>;
  timings: { upMs: number };
}

export async function startSentinelSet(opts: SentinelSetOptions = {}): Promise<SentinelSet> {
  const t0 = Date.now();
  const masterName = opts.masterName ?? 'mymaster';
  const downAfter = opts.downAfterMs ?? 1000;
  const failoverTimeout = opts.failoverTimeoutMs ?? 3000;
  const quorum = opts.quorum ?? 2;
  const nSentinels = opts.sentinels ?? 3;
  const root = mkdtempSync(join(tmpdir(), 'rc-sentinel-'));
  liveRoots.add(root);
  const procs: Proc[] = [];
  const dataProcs = {} as Record<'primary' | 'replica', Proc>;
  const certs = opts.tls ? makeTestCerts(join(root, 'tls')) : undefined;
  const clientTls: ConnectionOptions | undefined = certs
    ? { ca: certs.ca, servername: 'localhost' }
    : undefined;
  const A = (port: number): Addr => (clientTls ? { host: HOST, port, tls: clientTls } : { host: HOST, port });
  const tlsArgs = (port: number) => listenArgs(certs, port);

  const cleanup = async () => {
    await Promise.all(procs.map((p) => killProc(p)));
    rmSync(root, { recursive: true, force: true });
    liveRoots.delete(root);
  };

  try {
    const mkData = (name: string, replicaOf?: Addr) => (port: number) => {
      const dir = join(root, name);
      return {
        proc: {
          name,
          bin: 'redis-server',
          dir,
          port,
          args: [
            ...tlsArgs(port),
            '--bind',
            HOST,
            '--protected-mode',
            'yes',
            '--dir',
            dir,
            ...persistence(opts.persist),
            // make replicas advertise the loopback address sentinels can reach
            '--replica-announce-ip',
            HOST,
            ...(replicaOf ? ['--replicaof', replicaOf.host, String(replicaOf.port)] : []),
          ],
        },
        writeFiles: () => {
          rmSync(dir, { recursive: true, force: true });
          mkdirSync(dir, { recursive: true });
        },
      };
    };
    dataProcs.primary = await startRedisLike(mkData('primary'), 10_000, clientTls);
    procs.push(dataProcs.primary);
    const primary: Addr = A(dataProcs.primary.port);
    dataProcs.replica = await startRedisLike(mkData('replica', primary), 10_000, clientTls);
    procs.push(dataProcs.replica);
    const replica: Addr = A(dataProcs.replica.port);

    // Replica must be in sync before sentinels look, or the first INFO won't list it.
    await waitUntil(
      'replica link up',
      async () => parseInfo(await cmd(replica, 'INFO', 'replication')).master_link_status === 'up',
    );

    // Sentinels: each gets its own config file (sentinel REWRITES it at runtime).
    const sentinelProcs = await Promise.all(
      Array.from({ length: nSentinels }, (_, i) =>
        startRedisLike(
          (port) => {
            const name = `sentinel${i}`;
            const dir = join(root, name);
            const conf = join(dir, 'sentinel.conf');
            return {
              proc: { name, bin: 'redis-sentinel', dir, port, args: [conf] },
              writeFiles: () => {
                mkdirSync(dir, { recursive: true });
                writeFileSync(
                  conf,
                  [
                    ...(certs
                      ? [
                          `port 0`,
                          `tls-port ${port}`,
                          `tls-cert-file ${certs.certFile}`,
                          `tls-key-file ${certs.keyFile}`,
                          `tls-ca-cert-file ${certs.caFile}`,
                          `tls-auth-clients no`,
                          `tls-replication yes`,
                        ]
                      : [`port ${port}`]),
                    `bind ${HOST}`,
                    `protected-mode no`,
                    `daemonize no`,
                    `dir ${dir}`,
                    `sentinel announce-ip ${HOST}`,
                    `sentinel resolve-hostnames no`,
                    `sentinel monitor ${masterName} ${primary.host} ${primary.port} ${quorum}`,
                    `sentinel down-after-milliseconds ${masterName} ${downAfter}`,
                    `sentinel failover-timeout ${masterName} ${failoverTimeout}`,
                    `sentinel parallel-syncs ${masterName} 1`,
                    '',
                  ].join('\n'),
                );
              },
            };
          },
          10_000,
          clientTls,
        ),
      ),
    );
    procs.push(...sentinelProcs);
    const sentinels: Addr[] = sentinelProcs.map((p) => A(p.port));

    // Bounded wait until every sentinel (a) knows the other sentinels (hello msgs, ~2s period)
    // and (b) knows the replica. Without (a) a failover cannot reach quorum/majority.
    await Promise.all(
      sentinels.map((s) =>
        waitUntil(
          `sentinel ${s.port} discovery`,
          async () => {
            const others = (await cmd(s, 'SENTINEL', 'SENTINELS', masterName)) as unknown[];
            const reps = ((await cmd(s, 'SENTINEL', 'REPLICAS', masterName)) as string[][]).map(pack);
            return (
              others.length === nSentinels - 1 &&
              reps.some(
                (r) =>
                  Number(r.port) === replica.port &&
                  !/s_down|disconnected/.test(r.flags ?? '') &&
                  r['master-link-status'] === 'ok',
              )
            );
          },
          { timeoutMs: 20_000, intervalMs: 100 },
        ),
      ),
    );

    const getMasterAddrFrom = async (s: Addr): Promise<Addr> => {
      const r = (await cmd(s, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', masterName)) as [string, string];
      return { ...A(Number(r[1])), host: r[0] };
    };
    const liveSentinels = () =>
      sentinelProcs
        .filter((p) => p.child && p.child.exitCode === null && p.child.signalCode === null)
        .map((p) => A(p.port));
    const getMasterAddr = async (): Promise<Addr> => {
      for (const s of liveSentinels()) {
        try {
          return await getMasterAddrFrom(s);
        } catch {
          /* next */
        }
      }
      throw new Error('no sentinel answered');
    };

    const byAddr = (a: Addr) => procs.find((p) => p.port === a.port);

    const set: SentinelSet = {
      masterName,
      sentinels,
      primary,
      replica,
      dirs: [root],
      clientTls,
      getMasterAddr,
      async waitForFailover({ from, timeoutMs = 20_000 } = {}) {
        const start = Date.now();
        const old = from ?? primary;
        const newPrimary = await waitUntil(
          'sentinel failover',
          async () => {
            const ss = liveSentinels();
            const answers = await Promise.all(ss.map((s) => getMasterAddrFrom(s).catch(() => null)));
            const moved = answers.filter((a): a is Addr => !!a && a.port !== old.port);
            if (moved.length * 2 <= ss.length) return null;
            const cand = moved[0]!;
            const info = parseInfo(await cmd(cand, 'INFO', 'replication'));
            return info.role === 'master' ? cand : null;
          },
          { timeoutMs, intervalMs: 50 },
        );
        return { newPrimary, ms: Date.now() - start };
      },
      async kill(which) {
        let p: Proc | undefined;
        if (which === 'currentPrimary') p = byAddr(await getMasterAddr());
        else if (which === 'primary' || which === 'replica') p = dataProcs[which];
        else p = sentinelProcs[Number(which.slice('sentinel'.length))];
        if (!p) throw new Error(`unknown target ${which}`);
        await killProc(p, 'SIGKILL');
        return A(p.port);
      },
      async restart(which) {
        const p = dataProcs[which];
        await killProc(p);
        // Start again WITHOUT --replicaof for the old primary: sentinel reconfigures it (it becomes a replica).
        spawnProc(p);
        await waitUntil(`${p.name} restart`, async () => (await cmd(A(p.port), 'PING')) === 'PONG');
      },
      freeze: (which) => void dataProcs[which].child?.kill('SIGSTOP'),
      thaw: (which) => void dataProcs[which].child?.kill('SIGCONT'),
      stop: cleanup,
      timings: { upMs: 0 },
    };
    set.timings.upMs = Date.now() - t0;
    return set;
  } catch (e) {
    await cleanup();
    throw e;
  }
}

function pack(arr: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (let i = 0; i + 1 < arr.length; i += 2) o[arr[i]!] = arr[i + 1]!;
  return o;
}

// =============================================================== CLUSTER

export interface ClusterOptions {
  primaries?: number;
  replicasPerPrimary?: number;
  nodeTimeoutMs?: number;
  /** default false here so one dead shard doesn't take the whole cluster to CLUSTERDOWN during failover */
  requireFullCoverage?: boolean;
  extraArgs?: string[];
  /** TLS only (port 0, tls-port N, tls-cluster and tls-replication yes), with a throwaway CA. */
  tls?: boolean;
  /** Nodes keep an append-only file (fsync always): a restarted node comes back with its data. */
  persist?: boolean;
}

export interface ClusterNode extends Addr {
  id: string;
  role: 'primary' | 'replica';
  primaryId?: string;
  slots: [number, number][];
  alive: boolean;
}

export interface RedisClusterHandle {
  seeds: Addr[];
  /** The test CA's certificate file, when started with tls: true. */
  caFile?: string;
  nodes(): Promise<ClusterNode[]>;
  /** Current owner (primary) of a slot, as seen by a live node. */
  primaryOf(slotOrKey: number | string): Promise<ClusterNode>;
  /** SIGKILL the current primary of a slot/key. Returns the victim and a waiter for the promotion. */
  killPrimaryOf(slotOrKey: number | string): Promise<{
    killed: ClusterNode;
    waitForPromotion(timeoutMs?: number): Promise<{ newPrimary: ClusterNode; ms: number }>;
  }>;
  /** Graceful CLUSTER FAILOVER on the replica of a slot's primary (old primary stays up and becomes a replica). */
  manualFailover(
    slotOrKey: number | string,
    timeoutMs?: number,
  ): Promise<{ oldPrimary: ClusterNode; newPrimary: ClusterNode; ms: number }>;
  /** Move one slot (and its keys) to another primary: IMPORTING/MIGRATING, MIGRATE keys, SETSLOT NODE everywhere. */
  migrateSlot(
    slotOrKey: number | string,
    toPort: number,
  ): Promise<{ from: ClusterNode; to: ClusterNode; ms: number }>;
  /** Restart a killed node (same port/dir/nodes.conf) — it rejoins as a replica of the promoted node. */
  restart(port: number): Promise<void>;
  /** SIGKILL one node (by port) and wait until it has exited. */
  kill(port: number): Promise<void>;
  /** SIGSTOP / SIGCONT one node (by port). */
  freeze(port: number): void;
  thaw(port: number): void;
  waitForHealthy(timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
  dirs: string[];
  timings: { upMs: number; nodesStartMs: number; createMs: number; convergeMs: number };
}

export const slotOf = (slotOrKey: number | string): number =>
  typeof slotOrKey === 'number' ? slotOrKey : calculateSlot(slotOrKey);

function parseClusterNodes(text: string, ports: Map<string, Proc>, tls?: ConnectionOptions): ClusterNode[] {
  return text
    .trim()
    .split('\n')
    .map((line) => {
      const f = line.split(' ');
      const hostPort = (f[1] ?? '').split('@')[0] ?? '';
      const port = Number(hostPort.slice(hostPort.lastIndexOf(':') + 1));
      const flags = (f[2] ?? '').split(',');
      const slots: [number, number][] = [];
      for (const s of f.slice(8)) {
        if (s.startsWith('[')) continue; // migrating/importing markers
        const [a = NaN, b] = s.split('-').map(Number);
        slots.push([a, b ?? a]);
      }
      const p = ports.get(String(port));
      return {
        id: f[0],
        host: HOST,
        port,
        ...(tls ? { tls } : {}),
        role: flags.includes('master') ? 'primary' : 'replica',
        primaryId: f[3] === '-' ? undefined : f[3],
        slots,
        alive:
          !flags.includes('fail') &&
          !flags.includes('fail?') &&
          !!p?.child &&
          p.child.exitCode === null &&
          p.child.signalCode === null,
      } as ClusterNode;
    });
}

export async function startRedisCluster(opts: ClusterOptions = {}): Promise<RedisClusterHandle> {
  const t0 = Date.now();
  const primaries = opts.primaries ?? 3;
  const rpp = opts.replicasPerPrimary ?? 1;
  const nodeTimeout = opts.nodeTimeoutMs ?? 1000;
  const total = primaries * (1 + rpp);
  if (primaries < 3) throw new Error('redis-cli --cluster create needs >= 3 primaries');
  const root = mkdtempSync(join(tmpdir(), 'rc-cluster-'));
  liveRoots.add(root);
  const procs: Proc[] = [];
  const cleanup = async () => {
    await Promise.all(procs.map((p) => killProc(p)));
    rmSync(root, { recursive: true, force: true });
    liveRoots.delete(root);
  };
  const byPort = new Map<string, Proc>();
  const isAlive = (p: Proc) => !!p.child && p.child.exitCode === null && p.child.signalCode === null;
  const certs = opts.tls ? makeTestCerts(join(root, 'tls')) : undefined;
  const clientTls: ConnectionOptions | undefined = certs
    ? { ca: certs.ca, servername: 'localhost' }
    : undefined;
  const A = (port: number): Addr => (clientTls ? { host: HOST, port, tls: clientTls } : { host: HOST, port });
  const portArgs = (port: number) => listenArgs(certs, port, ['--tls-cluster', 'yes']);
  const liveAddrs = () => procs.filter(isAlive).map((p) => A(p.port));

  try {
    const started = await Promise.all(
      Array.from({ length: total }, (_, i) =>
        startRedisLike(
          (port, busPort) => {
            const name = `node${i}`;
            const dir = join(root, name);
            return {
              proc: {
                name,
                bin: 'redis-server',
                dir,
                port,
                args: [
                  ...portArgs(port),
                  '--bind',
                  HOST,
                  '--dir',
                  dir,
                  ...persistence(opts.persist),
                  '--cluster-enabled',
                  'yes',
                  '--cluster-config-file',
                  join(dir, 'nodes.conf'),
                  '--cluster-node-timeout',
                  String(nodeTimeout),
                  // Redis 7: explicit bus port, so we don't need port+10000 to be free.
                  '--cluster-port',
                  String(busPort),
                  '--cluster-announce-ip',
                  HOST,
                  '--cluster-require-full-coverage',
                  opts.requireFullCoverage ? 'yes' : 'no',
                  '--cluster-allow-reads-when-down',
                  'no',
                  '--cluster-allow-pubsubshard-when-down',
                  'yes',
                  ...(opts.extraArgs ?? []),
                ],
              },
              writeFiles: () => mkdirSync(dir, { recursive: true }),
            };
          },
          10_000,
          clientTls,
        ),
      ),
    );
    procs.push(...started);
    for (const p of started) byPort.set(String(p.port), p);
    const tNodes = Date.now();

    const addrs = started.map((p) => `${HOST}:${p.port}`);
    await new Promise<void>((resolve, reject) => {
      execFile(
        'redis-cli',
        [
          ...(certs ? ['--tls', '--cacert', certs.caFile] : []),
          '--cluster',
          'create',
          ...addrs,
          '--cluster-replicas',
          String(rpp),
          '--cluster-yes',
        ],
        // Well inside the 60 s of the tests and hooks that start a cluster (a create took 1.0-2.0 s
        // on a quiet machine, TLS or not): a create that hangs fails with redis-cli's own output,
        // not with a test timeout that names no step.
        { timeout: 25_000 },
        (err, stdout, stderr) => {
          if (err)
            reject(new Error(`redis-cli --cluster create failed: ${err.message}\n${stdout}\n${stderr}`));
          else resolve();
        },
      );
    });
    const tCreate = Date.now();

    const nodesNow = async (): Promise<ClusterNode[]> => {
      for (const a of liveAddrs()) {
        try {
          return parseClusterNodes(await cmd(a, 'CLUSTER', 'NODES'), byPort, clientTls);
        } catch {
          /* next */
        }
      }
      throw new Error('no live cluster node answered');
    };

    const waitForHealthy = async (timeoutMs = 30_000) => {
      await waitUntil(
        'cluster healthy',
        async () => {
          const live = liveAddrs();
          for (const a of live) {
            const info = parseInfo(await cmd(a, 'CLUSTER', 'INFO'));
            if (info.cluster_state !== 'ok' || info.cluster_slots_ok !== '16384') return false;
            // every node must see every *live* node without fail/handshake flags
            const view = (await cmd(a, 'CLUSTER', 'NODES')) as string;
            for (const b of live) {
              const line = view.split('\n').find((l) => l.includes(`:${b.port}@`));
              if (!line || /fail|handshake|noaddr/.test(line.split(' ')[2] ?? '')) return false;
            }
          }
          // replicas have finished their initial sync (needed for a fast, valid failover)
          for (const a of live) {
            const r = parseInfo(await cmd(a, 'INFO', 'replication'));
            if (r.role === 'slave' && r.master_link_status !== 'up') return false;
          }
          return true;
        },
        { timeoutMs, intervalMs: 100 },
      );
    };
    await waitForHealthy();
    const tUp = Date.now();

    const primaryOf = async (slotOrKey: number | string) => {
      const slot = slotOf(slotOrKey);
      const ns = await nodesNow();
      const owner = ns.find((n) => n.role === 'primary' && n.slots.some(([a, b]) => slot >= a && slot <= b));
      if (!owner) throw new Error(`no owner for slot ${slot}`);
      return owner;
    };

    const handle: RedisClusterHandle = {
      seeds: started.map((p) => A(p.port)),
      caFile: certs?.caFile,
      nodes: nodesNow,
      primaryOf,
      async killPrimaryOf(slotOrKey) {
        const slot = slotOf(slotOrKey);
        const killed = await primaryOf(slot);
        const p = byPort.get(String(killed.port))!;
        await killProc(p, 'SIGKILL');
        const tKill = Date.now();
        return {
          killed,
          async waitForPromotion(timeoutMs = 30_000) {
            const newPrimary = await waitUntil(
              `promotion for slot ${slot}`,
              async () => {
                // every live node must agree on the new owner and be cluster_state:ok
                let owner: ClusterNode | undefined;
                for (const a of liveAddrs()) {
                  const info = parseInfo(await cmd(a, 'CLUSTER', 'INFO'));
                  if (info.cluster_state !== 'ok') return null;
                  const ns = parseClusterNodes(await cmd(a, 'CLUSTER', 'NODES'), byPort, clientTls);
                  const o = ns.find(
                    (n) => n.role === 'primary' && n.slots.some(([x, y]) => slot >= x && slot <= y),
                  );
                  if (!o || o.port === killed.port) return null;
                  if (owner && owner.port !== o.port) return null;
                  owner = o;
                }
                return owner ?? null;
              },
              { timeoutMs, intervalMs: 50 },
            );
            return { newPrimary, ms: Date.now() - tKill };
          },
        };
      },
      async manualFailover(slotOrKey, timeoutMs = 30_000) {
        const slot = slotOf(slotOrKey);
        const oldPrimary = await primaryOf(slot);
        const ns = await nodesNow();
        const rep = ns.find((n) => n.primaryId === oldPrimary.id && n.alive);
        if (!rep) throw new Error('no live replica to fail over to');
        const t = Date.now();
        await cmd(rep, 'CLUSTER', 'FAILOVER');
        const newPrimary = await waitUntil(
          'manual failover',
          async () => {
            const o = await primaryOf(slot);
            if (o.port !== rep.port) return null;
            const r = parseInfo(await cmd(rep, 'INFO', 'replication'));
            return r.role === 'master' ? o : null;
          },
          { timeoutMs },
        );
        return { oldPrimary, newPrimary, ms: Date.now() - t };
      },
      async migrateSlot(slotOrKey, toPort) {
        const slot = slotOf(slotOrKey);
        const t = Date.now();
        const from = await primaryOf(slot);
        const to = (await nodesNow()).find((n) => n.port === toPort && n.role === 'primary');
        if (!to) throw new Error(`${toPort} is not a primary`);
        if (to.id === from.id) return { from, to, ms: 0 };
        await cmd(to, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id);
        await cmd(from, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id);
        for (;;) {
          const keys = (await cmd(from, 'CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
          if (!keys.length) break;
          await cmd(from, 'MIGRATE', to.host, to.port, '', 0, 5000, 'KEYS', ...keys);
        }
        // target first, then source (source pushes `sunsubscribe` to its sharded subscribers here), then the rest
        await cmd(to, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
        await cmd(from, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
        for (const n of (await nodesNow()).filter(
          (n) => n.role === 'primary' && n.alive && n.id !== to.id && n.id !== from.id,
        )) {
          await cmd(n, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id).catch(() => {
            /* gossip will converge */
          });
        }
        await waitUntil('slot migration visible everywhere', async () => {
          for (const a of liveAddrs()) {
            const ns = parseClusterNodes(await cmd(a, 'CLUSTER', 'NODES'), byPort, clientTls);
            const o = ns.find(
              (n) => n.role === 'primary' && n.slots.some(([x, y]) => slot >= x && slot <= y),
            );
            if (o?.id !== to.id) return false;
          }
          return true;
        });
        return { from, to: { ...to }, ms: Date.now() - t };
      },
      async restart(port) {
        const p = byPort.get(String(port));
        if (!p) throw new Error(`unknown port ${port}`);
        await killProc(p);
        spawnProc(p);
        await waitUntil(`node ${port} restart`, async () => (await cmd(A(port), 'PING')) === 'PONG');
      },
      async kill(port) {
        const p = byPort.get(String(port));
        if (!p) throw new Error(`unknown port ${port}`);
        await killProc(p, 'SIGKILL');
      },
      freeze: (port) => void byPort.get(String(port))?.child?.kill('SIGSTOP'),
      thaw: (port) => void byPort.get(String(port))?.child?.kill('SIGCONT'),
      waitForHealthy,
      stop: cleanup,
      dirs: [root],
      timings: {
        upMs: tUp - t0,
        nodesStartMs: tNodes - t0,
        createMs: tCreate - tNodes,
        convergeMs: tUp - tCreate,
      },
    };
    return handle;
  } catch (e) {
    await cleanup();
    throw e;
  }
}

// =================================================================== TLS

export interface TlsRedis {
  /** The TLS port (the plain port is off). */
  port: number;
  certs: TlsMaterial;
  stop(): Promise<void>;
}

/** One TLS-only redis-server (`port 0`, `tls-port N`) with a throwaway CA made by openssl. */
export async function startTlsRedis(): Promise<TlsRedis> {
  const root = mkdtempSync(join(tmpdir(), 'rc-tls-'));
  liveRoots.add(root);
  const certs = makeTestCerts(join(root, 'tls'));
  const tls = { ca: certs.ca, servername: 'localhost' };
  const p = await startRedisLike(
    (port) => ({
      proc: {
        name: 'tls',
        bin: 'redis-server',
        dir: root,
        port,
        args: [...listenArgs(certs, port), '--bind', HOST, '--dir', root, ...NO_PERSIST],
      },
    }),
    10_000,
    tls,
  );
  return {
    port: p.port,
    certs,
    async stop() {
      await killProc(p);
      rmSync(root, { recursive: true, force: true });
      liveRoots.delete(root);
    },
  };
}

/** A server's port arguments: plain, or TLS only (the plain port off) with the test CA's certificate. */
function listenArgs(certs: TlsMaterial | undefined, port: number, extra: string[] = []): string[] {
  if (!certs) return ['--port', String(port)];
  return [
    '--port',
    '0',
    '--tls-port',
    String(port),
    '--tls-cert-file',
    certs.certFile,
    '--tls-key-file',
    certs.keyFile,
    '--tls-ca-cert-file',
    certs.caFile,
    '--tls-auth-clients',
    'no',
    '--tls-replication',
    'yes',
    ...extra,
  ];
}
