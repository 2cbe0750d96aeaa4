import { startRedis } from './redis.js';
import { type Addr, cmd, HOST, startRedisCluster, startSentinelSet } from './redis-topologies.js';

/**
 * One Redis deployment in each of roomcast's three modes, behind one interface, so that a fault
 * suite written for one Redis runs against all three (docs/cluster.md, "What is tested where").
 *
 * The fault is always "the Redis every node depends on": in URL mode the one server; with
 * Sentinel the primary (the sentinels' `down-after-milliseconds` is set far above any outage
 * here, so a kill is an outage, not a failover: failovers have their own tests); on a Redis
 * Cluster every primary at once (no replicas, `cluster-node-timeout` far above any outage, so no
 * shard fails over; `nodes.conf` survives a kill, so the restarted nodes form the same cluster).
 * `kill` then `restart` is Redis restarted without its data in every mode (in Sentinel mode the
 * replica resynchronises from the empty primary, as it would in production), or with it when
 * started with `persist`.
 *
 * @example
 * const redis = await startModeRedis('sentinel');
 * const nodes = await startCluster(2, '', redis.config);
 * await redis.kill();
 * await redis.restart();
 * await redis.stop();
 */
export type RedisMode = 'url' | 'sentinel' | 'cluster';

export const REDIS_MODES: readonly RedisMode[] = ['url', 'sentinel', 'cluster'];

export interface ModeRedis {
  readonly mode: RedisMode;
  /** The `redis` block that points a broker at it (for `startCluster(n, '', config)`). */
  readonly config: Record<string, unknown>;
  /** The data nodes that take writes (one, or every Cluster primary); no failover happens here. */
  readonly primaries: Addr[];
  /** SIGKILL (every primary on a Cluster), and wait until it has exited. */
  kill(): Promise<void>;
  /** Starts it again on the same ports, without its data, and waits until it serves. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: a frozen Redis. */
  freeze(): void;
  thaw(): void;
  /**
   * Runs one command on every primary and joins the replies as text (arrays one item a line):
   * `CLIENT LIST`, `PUBSUB SHARDCHANNELS` and the like, wherever the shard is.
   */
  command(...args: string[]): Promise<string>;
  /** Closes (CLIENT KILL) every connection named `name` on every data node; resolves with how many. */
  killClients(name: string): Promise<number>;
  /** Back to serving (thawed, restarted if killed), for the next test after a failed one. */
  ensureUp(): Promise<void>;
  stop(): Promise<void>;
}

/** The modes to run a suite in: `ROOMCAST_REDIS_MODES=url,cluster` narrows it (default all three). */
export function modesFromEnv(): RedisMode[] {
  const raw = process.env.ROOMCAST_REDIS_MODES;
  if (!raw) return [...REDIS_MODES];
  return raw.split(',').filter((m): m is RedisMode => (REDIS_MODES as readonly string[]).includes(m));
}

/** Long enough that no outage in the fault suites reads as a dead primary. */
const NO_FAILOVER_MS = 120_000;

/** `persist`: an append-only file (fsync always), so `restart` brings the data back. */
export async function startModeRedis(mode: RedisMode, opts: { persist?: boolean } = {}): Promise<ModeRedis> {
  if (mode === 'url') return urlRedis(opts.persist);
  if (mode === 'sentinel') return sentinelRedis(opts.persist);
  return clusterRedis(opts.persist);
}

/** CLIENT KILL of every connection named `name` on the node at `port` (ids are per node). */
async function killNamed(port: number, name: string): Promise<number> {
  const list = text(await cmd({ host: HOST, port }, 'CLIENT', 'LIST'));
  const ids = [...list.matchAll(new RegExp(`id=(\\d+) [^\\n]*name=${name}(\\s|$)`, 'g'))].map((m) => m[1]!);
  for (const id of ids) await cmd({ host: HOST, port }, 'CLIENT', 'KILL', 'ID', id);
  return ids.length;
}

const text = (reply: unknown): string => (Array.isArray(reply) ? reply.map(text).join('\n') : String(reply));

type Ops = Omit<ModeRedis, 'ensureUp'>;

/** Adds `ensureUp` to `ops`: it remembers whether the Redis is killed or frozen. */
function tracked(ops: Ops): ModeRedis {
  let down = false;
  let frozen = false;
  const self: ModeRedis = {
    ...ops,
    async kill() {
      down = true;
      await ops.kill();
    },
    async restart() {
      await ops.restart();
      down = false;
    },
    freeze() {
      frozen = true;
      ops.freeze();
    },
    thaw() {
      frozen = false;
      ops.thaw();
    },
    async ensureUp() {
      if (frozen) self.thaw();
      if (down) await self.restart();
    },
  };
  return self;
}

async function urlRedis(persist?: boolean): Promise<ModeRedis> {
  const redis = await startRedis({ persist });
  return tracked({
    mode: 'url',
    config: { url: redis.url },
    primaries: [{ host: HOST, port: redis.port }],
    kill: () => redis.kill(),
    restart: () => redis.restart(),
    freeze: () => redis.freeze(),
    thaw: () => redis.thaw(),
    command: async (...args) => text(await cmd({ host: HOST, port: redis.port }, ...args)),
    killClients: (name) => killNamed(redis.port, name),
    stop: () => redis.stop(),
  });
}

async function sentinelRedis(persist?: boolean): Promise<ModeRedis> {
  const set = await startSentinelSet({
    downAfterMs: NO_FAILOVER_MS,
    failoverTimeoutMs: NO_FAILOVER_MS,
    persist,
  });
  return tracked({
    mode: 'sentinel',
    primaries: [set.primary],
    config: {
      url: null,
      sentinels: set.sentinels.map((s) => `${s.host}:${s.port}`),
      sentinelMaster: set.masterName,
    },
    kill: async () => void (await set.kill('primary')),
    restart: () => set.restart('primary'),
    freeze: () => set.freeze('primary'),
    thaw: () => set.thaw('primary'),
    command: async (...args) => text(await cmd(set.primary, ...args)),
    killClients: (name) => killNamed(set.primary.port, name),
    stop: () => set.stop(),
  });
}

async function clusterRedis(persist?: boolean): Promise<ModeRedis> {
  const cluster = await startRedisCluster({
    primaries: 3,
    replicasPerPrimary: 0,
    nodeTimeoutMs: NO_FAILOVER_MS,
    persist,
  });
  const ports = cluster.seeds.map((s) => s.port);
  return tracked({
    mode: 'cluster',
    primaries: cluster.seeds,
    config: { url: null, cluster: cluster.seeds.map((s) => `${s.host}:${s.port}`) },
    kill: async () => void (await Promise.all(ports.map((p) => cluster.kill(p)))),
    async restart() {
      await Promise.all(ports.map((p) => cluster.restart(p)));
      // The nodes find each other again from nodes.conf; a restarted primary takes writes ~2 s later.
      await cluster.waitForHealthy(15_000);
    },
    freeze: () => {
      for (const p of ports) cluster.freeze(p);
    },
    thaw: () => {
      for (const p of ports) cluster.thaw(p);
    },
    async command(...args) {
      const replies = await Promise.all(ports.map((port) => cmd({ host: HOST, port }, ...args)));
      return replies.map(text).join('\n');
    },
    async killClients(name) {
      const counts = await Promise.all(ports.map((port) => killNamed(port, name)));
      return counts.reduce((a, b) => a + b, 0);
    },
    stop: () => cluster.stop(),
  });
}
