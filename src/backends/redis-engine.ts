import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { RoomcastError } from '../errors.js';
import type { Envelope, Member, RoomStat } from '../protocol.js';
import { type Engine, type HistoryPolicy, selectHistory } from '../rooms/engine.js';
import { RedisPresence } from './redis-presence.js';
import { defineScripts, execAll, roomKeys, type ScriptedRedis } from './redis-scripts.js';

export interface RedisEngineOptions {
  /** Every key starts with `<prefix>:`. */
  prefix: string;
  /** A node silent for this long is dead and its members leave presence. */
  presenceTtlMs: number;
  heartbeatMs: number;
  /** How long `once()` waits for a concurrent first run, and `close()` for writes in flight. */
  requestTimeoutMs: number;
  log: Pick<Logger, 'warn' | 'debug' | 'info'>;
}

/** A room's offset and history outlive its last publish by this long, or by its history TTL if longer. */
export const ROOM_IDLE_MS = 24 * 3600 * 1000;
/** How long a first `once()` run may take before its marker lapses and a repeat may run again. */
const ONCE_PENDING_MS = 30_000;
const PENDING = '{"pending":true}';

/**
 * The cluster engine: offsets, history, membership and idempotency in Redis, so every node answers
 * alike. A publish is one EVALSHA (offset and history in one atomic step); presence lives in
 * {@link RedisPresence}. Any Redis failure surfaces as `RoomcastError('unavailable')`: the client
 * is expected to fail fast (no offline queue, a command timeout), so nothing waits on a dead Redis.
 *
 * @example
 * const engine = createRedisEngine(new Redis(url, { enableOfflineQueue: false }), {
 *   prefix: 'roomcast', presenceTtlMs: 15_000, heartbeatMs: 5_000, requestTimeoutMs: 2_500, log,
 * });
 * const env = await engine.publish('/', draft, { size: 100, ttlMs: 300_000 });
 */
export function createRedisEngine(client: Redis, opts: RedisEngineOptions): Engine {
  const redis: ScriptedRedis = defineScripts(client);
  const presence = new RedisPresence(redis, {
    prefix: opts.prefix,
    ttlMs: opts.presenceTtlMs,
    heartbeatMs: opts.heartbeatMs,
    log: opts.log,
  });
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.then(
      () => inFlight.delete(p),
      () => inFlight.delete(p),
    );
    return p;
  };
  presence.start();

  return {
    kind: 'redis',
    async publish(ns, draft, policy) {
      const k = roomKeys(opts.prefix, ns, draft.room);
      const json = JSON.stringify(draft);
      const [epoch, offset] = await unavailable(
        redis.rcPublish(
          k.stream,
          k.history,
          newEpoch(),
          policy.size,
          policy.ttlMs,
          draft.ts,
          idle(policy),
          json,
        ),
      );
      const envelope: Envelope = { ...draft, offset: Number(offset), epoch };
      return envelope;
    },
    async history(ns, room, query, policy) {
      const k = roomKeys(opts.prefix, ns, room);
      const since = query.since;
      const [epoch, offset, ...items] = await unavailable(
        redis.rcHistory(
          k.stream,
          k.history,
          newEpoch(),
          since ? since.offset : -1,
          query.limit,
          idle(policy),
          since?.epoch ?? '',
        ),
      );
      const cutoff = policy.ttlMs > 0 ? Date.now() - policy.ttlMs : Number.NEGATIVE_INFINITY;
      const stored = items.map((item) => parseItem(item, epoch)).filter((m) => m.ts >= cutoff);
      return selectHistory(stored, { offset: Number(offset), epoch }, query);
    },
    addMember: (ns, room, member, connId) => track(unavailable(presence.add(ns, room, member, connId))),
    removeMember: (ns, room, _sub, connId) => track(unavailable(presence.remove(ns, room, connId))),
    members: (ns, room) => unavailable(readMembers(redis, opts.prefix, ns, room)),
    rooms: (ns, prefix) => unavailable(readRooms(redis, opts.prefix, ns, prefix)),
    once: (ns, key, windowMs, run) => once(redis, `${opts.prefix}:once:${ns}:${key}`, windowMs, run, opts),
    onPresenceChanged: (listener) => presence.onChanged(listener),
    isReady: () => redis.status === 'ready' && presence.isHealthy(),
    async close() {
      await withTimeout(Promise.allSettled([...inFlight]), opts.requestTimeoutMs);
      await withTimeout(presence.close(), opts.requestTimeoutMs);
    },
  };
}

/**
 * Runs `run` once per key across the cluster: SET NX of a pending marker, then the JSON result.
 * A concurrent repeat polls for the result (bounded by a few request timeouts); a failed first
 * run deletes its marker so a retry may run.
 */
async function once<T>(
  redis: Redis,
  key: string,
  windowMs: number,
  run: () => Promise<T>,
  opts: RedisEngineOptions,
): Promise<T> {
  if (windowMs <= 0) return run();
  const deadline = Date.now() + Math.max(4 * opts.requestTimeoutMs, 10_000);
  for (let wait = 10; ; wait = Math.min(wait * 2, 200)) {
    const claimed = await unavailable(
      redis.set(key, PENDING, 'PX', Math.min(windowMs, ONCE_PENDING_MS), 'NX'),
    );
    if (claimed) return runAndStore(redis, key, windowMs, run, opts);
    const value = await unavailable(redis.get(key));
    if (value !== null && value !== PENDING) return (JSON.parse(value) as { result: T }).result;
    if (Date.now() > deadline)
      throw new RoomcastError('unavailable', 'an earlier request with this key is still running');
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}

async function runAndStore<T>(
  redis: Redis,
  key: string,
  windowMs: number,
  run: () => Promise<T>,
  opts: RedisEngineOptions,
): Promise<T> {
  let result: T;
  try {
    result = await run();
  } catch (err) {
    await redis.del(key).catch(() => undefined);
    throw err;
  }
  const stored = JSON.stringify({ result: result ?? null });
  await redis.set(key, stored, 'PX', windowMs).catch((err: unknown) => {
    // The first run succeeded; a repeat within ONCE_PENDING_MS gets `unavailable` and may retry.
    opts.log.warn({ err, key }, 'could not store an idempotent result');
  });
  return result;
}

/** A room's members, from Redis only (no node is asked). */
async function readMembers(
  redis: ScriptedRedis,
  prefix: string,
  ns: string,
  room: string,
): Promise<Member[]> {
  const k = roomKeys(prefix, ns, room);
  const flat = await redis.rcMembers(k.users, k.info);
  const out: Member[] = [];
  for (let i = 0; i + 2 < flat.length; i += 3) {
    out.push({ sub: flat[i]!, connections: Number(flat[i + 1]), info: JSON.parse(flat[i + 2]!) });
  }
  return out;
}

/** Rooms with members whose name starts with `start`, with counts, from Redis only. */
async function readRooms(
  redis: ScriptedRedis,
  prefix: string,
  ns: string,
  start: string,
): Promise<RoomStat[]> {
  const names = await redis.zrangebylex(
    `${prefix}:rooms:${ns}`,
    `[${start}`,
    start ? `[${start}\u00ff` : '+',
  );
  if (names.length === 0) return [];
  const pipe = redis.pipeline();
  for (const room of names) pipe.hvals(roomKeys(prefix, ns, room).users);
  const counts = await execAll(pipe);
  return names
    .map((room, i) => {
      const values = (counts[i] as string[]).map(Number);
      return { room, members: values.length, connections: values.reduce((a, b) => a + b, 0) };
    })
    .filter((r) => r.members > 0);
}

/** Turns any Redis failure into the contract's `unavailable`. */
async function unavailable<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    if (err instanceof RoomcastError) throw err;
    throw new RoomcastError(
      'unavailable',
      `the cluster state (Redis) is unreachable: ${(err as Error).message}`,
    );
  }
}

/** `offset|ts|draft JSON` back into an envelope. */
function parseItem(item: string, epoch: string): Envelope {
  const a = item.indexOf('|');
  const b = item.indexOf('|', a + 1);
  const draft = JSON.parse(item.slice(b + 1)) as Omit<Envelope, 'offset' | 'epoch'>;
  return { ...draft, offset: Number(item.slice(0, a)), epoch };
}

function idle(policy: HistoryPolicy): number {
  return Math.max(policy.ttlMs, ROOM_IDLE_MS);
}

function newEpoch(): string {
  return randomBytes(6).toString('base64url');
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      () => {
        clearTimeout(timer);
        resolve(undefined);
      },
    );
  });
}
