import type { Cluster } from 'ioredis';
import { RoomcastError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Member, PresenceEvent, RoomStat } from '../protocol.js';
import {
  type DeliverySink,
  type Engine,
  type HistoryPolicy,
  type Published,
  selectHistory,
} from '../rooms/engine.js';
import { RevocationList } from '../rooms/revocations.js';
import { settlesWithin } from './deadline.js';
import { newEpoch } from './epoch.js';
import type { RedisClients } from './redis-clients.js';
import {
  historyItemHead,
  packDraft,
  packPresence,
  unpackChannelItem,
  unpackHistoryItem,
} from './redis-codec.js';
import { clusterKeys, parseRoomChannel, roomKeys } from './redis-keys.js';
import { RedisPresence } from './redis-presence.js';
import { defineScripts, type PublishReply, publishScript, type ScriptedRedis } from './redis-scripts.js';
import { ShardRoomSubscriptions } from './redis-shard-rooms.js';
import { type PubSubMode, type RoomChannels, RoomSubscriptions } from './redis-subscriptions.js';

export interface RedisEngineOptions {
  /** Every key starts with `<prefix>:`. */
  prefix: string;
  /** SSUBSCRIBE/SPUBLISH (Redis 7) or SUBSCRIBE/PUBLISH (Redis 6). */
  mode: PubSubMode;
  /** A node silent for this long is dead and its members leave presence. */
  presenceTtlMs: number;
  heartbeatMs: number;
  /** How long a subscription may take to be answered, and `close()` waits for writes in flight. */
  requestTimeoutMs: number;
  /**
   * The primary can change (Sentinel, Redis Cluster): the scripts check that the primary that
   * last wrote a room is this one, else the room starts a new epoch (redis-scripts.ts, EPOCH).
   */
  failover?: boolean;
  log: Logger;
}

/** A room's offset and history outlive its last publish by this long, or by its history TTL if longer. */
export const ROOM_IDLE_MS = 24 * 3600 * 1000;

/** Users whose revocation a node keeps its own copy of, at most (each with up to 100 token hashes). */
export const REVOCATIONS_HELD = 100_000;

/**
 * The cluster engine: offsets, history, membership and idempotency in Redis, so every node answers
 * alike, and delivery over Redis pub/sub. A publish is one EVALSHA that checks the idempotency
 * key, assigns the offset, appends to history and publishes to the room's channel: an
 * acknowledged message has been stored and sent. Each node subscribes to the channels of the
 * rooms it serves (`watch`), and hands what arrives to its sink. Presence lives in
 * {@link RedisPresence}. Any Redis failure surfaces as `RoomcastError('unavailable')`.
 *
 * @example
 * const engine = createRedisEngine(createRedisClients(url, { requestTimeoutMs: 2500, log }), hub, {
 *   prefix: 'roomcast', mode: 'sharded', presenceTtlMs: 15_000, heartbeatMs: 5_000, requestTimeoutMs: 2_500, log,
 * });
 * const { offset, epoch } = await engine.publish('/', draft, { size: 100, ttlMs: 300_000 });
 */
export function createRedisEngine(
  clients: RedisClients,
  sink: DeliverySink,
  opts: RedisEngineOptions,
): Engine {
  const redis: ScriptedRedis = defineScripts(clients.command);
  const failover = opts.failover || clients.kind === 'cluster' ? '1' : '0';
  // On a Redis Cluster a script may only publish to its own slot: sharded pub/sub, whatever the mode.
  const publishCommand = opts.mode === 'sharded' || clients.kind === 'cluster' ? 'SPUBLISH' : 'PUBLISH';
  /** A Redis Cluster: one script reaches one slot, so an idempotency key is kept per room. */
  const sharded = clients.kind === 'cluster';
  const namespaceKeys = clusterKeys(opts.prefix);
  // A publish Redis runs later than this after it was sent is refused by the script: the node gave
  // up on it at requestTimeoutMs (ioredis's command timeout) and answered `unavailable`. The fifth
  // left between the two covers the error of the clock estimate (a heartbeat's round trip, and
  // the shards' clocks on a Redis Cluster).
  const latest = Math.floor(opts.requestTimeoutMs * 0.8);
  const presence = new RedisPresence(redis, {
    prefix: opts.prefix,
    cluster: clients.kind === 'cluster',
    ttlMs: opts.presenceTtlMs,
    heartbeatMs: opts.heartbeatMs,
    log: opts.log,
  });
  const channelOpts = {
    onMessage(channel: string, payload: Buffer) {
      const where = parseRoomChannel(opts.prefix, channel);
      const item = where ? unpackChannelItem(payload) : null;
      if (!where || !item) return opts.log.warn({ channel }, 'redis: a message roomcast cannot read');
      // A delivery that throws (a message from a node of another version, say) is logged: thrown
      // here it would reach ioredis's event handler, which has no catch, and end the process.
      try {
        if (item.kind === 'message') sink.message(where.ns, item.envelope, item.except);
        else sink.presence(where.ns, item.event, item.except);
      } catch (err) {
        opts.log.error({ err, channel }, 'redis: a message could not be delivered here');
      }
    },
    onResubscribed: () => sink.resync(),
    log: opts.log,
  };
  // A Redis Cluster has no one connection for every room: one per shard, routed by slot.
  const subscriptions: RoomChannels = clients.rooms
    ? new RoomSubscriptions(clients.rooms, opts.mode, channelOpts)
    : new ShardRoomSubscriptions(clients.command as Cluster, {
        ...channelOpts,
        nodeOptions: clients.nodeOptions,
      });
  // The revocations this node wrote to Redis, which it still refuses when Redis cannot be asked.
  const revokedHere = new RevocationList(REVOCATIONS_HELD);
  const sweepRevocations = setInterval(() => revokedHere.sweep(), 60_000);
  sweepRevocations.unref();
  const inFlight = new Set<Promise<unknown>>();
  const track = <T>(p: Promise<T>): Promise<T> => {
    inFlight.add(p);
    void p.then(
      () => inFlight.delete(p),
      () => inFlight.delete(p),
    );
    return p;
  };
  const announce = async (ns: string, event: PresenceEvent, except?: string) => {
    const channel = roomKeys(opts.prefix, ns, event.room).channel;
    const payload = packPresence(event, exceptField(except) || undefined);
    const sent =
      opts.mode === 'sharded' || clients.kind === 'cluster'
        ? clients.pub.spublish(channel, payload)
        : clients.pub.publish(channel, payload);
    // Presence events are pub/sub only (no history): one lost while Redis is away is not retried.
    await sent.catch((err: Error) => opts.log.debug({ err: err.message }, 'presence event not sent'));
  };
  presence.onChanged((ns, room, action, member) =>
    announce(ns, { room, action, member }).catch((err: unknown) =>
      opts.log.warn({ err, room }, 'presence event not sent'),
    ),
  );
  presence.start();

  /** The publish script's reply: `[epoch, offset, duplicate, room]` (duplicate 2: run too late, not applied). */
  const publishReply = ([epoch, offset, duplicate, room]: PublishReply): Published => {
    if (duplicate === 2)
      throw new RoomcastError(
        'unavailable',
        `Redis ran the publish ${offset} ms after it was sent, after this node had given up on it ` +
          `(redis.requestTimeoutMs ${opts.requestTimeoutMs}); it was not applied`,
      );
    if (duplicate !== 1) return { offset: Number(offset), epoch, duplicate: false };
    return room
      ? { offset: Number(offset), epoch, duplicate: true, room }
      : { offset: Number(offset), epoch, duplicate: true };
  };

  return {
    kind: 'redis',
    // Not async, and no `unavailable` around it: an async frame (and the wrapper's) would keep the
    // draft, its keys and every local alive until Redis answers, and at thousands of publishes a
    // second the young-generation GC copies what is still waiting (docs/benchmarks.md, stop 33).
    // The reply's handler is made once, and the script is a plain command (`PlainScript`), so a
    // publish in flight holds little more than its command and the command's arguments
    // (`node --expose-gc bench/inflight-heap.mjs`; docs/benchmarks.md, stops 33 and 35).
    publish(ns, draft, policy, publishOpts = {}) {
      try {
        const k = roomKeys(opts.prefix, ns, draft.room);
        const stream = k.stream;
        const key = publishOpts.idempotencyKey;
        // A key of the namespace; on a Redis Cluster the room's, as the script reaches one slot.
        const idempotency = !key ? stream : sharded ? k.idempotency(key) : namespaceKeys.idempotency(ns, key);
        const sentAt = presence.redisNow();
        return publishScript
          .run(redis, [
            stream,
            k.history,
            idempotency,
            newEpoch(),
            policy.size,
            policy.ttlMs,
            draft.ts,
            idle(policy),
            packDraft(draft),
            publishCommand,
            k.channel,
            exceptField(publishOpts.exceptConnId),
            key ? Math.max(1, publishOpts.idempotencyWindowMs ?? 0) : 0,
            failover,
            draft.room,
            sentAt === undefined ? 0 : Math.round(sentAt),
            latest,
          ])
          .then(publishReply, toUnavailable);
      } catch (err) {
        return Promise.reject(err);
      }
    },
    async history(ns, room, query, policy) {
      const k = roomKeys(opts.prefix, ns, room);
      const since = query.since;
      const [epochBuf, offset, ...items] = await unavailable(
        redis.rcHistoryBuffer(
          k.stream,
          k.history,
          newEpoch(),
          since ? since.offset : -1,
          query.limit,
          idle(policy),
          since?.epoch ?? '',
          query.create ? '1' : '0',
          failover,
          policy.size,
        ),
      );
      const epoch = epochBuf.toString();
      const cutoff = policy.ttlMs > 0 ? Date.now() - policy.ttlMs : Number.NEGATIVE_INFINITY;
      const stored = items
        .filter((item) => historyItemHead(item).ts >= cutoff)
        .map((item) => unpackHistoryItem(item, epoch));
      return selectHistory(stored, { offset: Number(offset), epoch }, query);
    },
    addMember: (ns, room, member, connId) => track(unavailable(presence.add(ns, room, member, connId))),
    removeMember: (ns, room, _sub, connId) => track(unavailable(presence.remove(ns, room, connId))),
    members: (ns, room) => unavailable(readMembers(redis, opts.prefix, ns, room)),
    async memberConnections(ns, room, sub) {
      return Number((await unavailable(redis.hget(roomKeys(opts.prefix, ns, room).users, sub))) ?? 0);
    },
    rooms: (ns, prefix) => unavailable(readRooms(redis, opts.prefix, ns, prefix)),
    async room(ns, room) {
      return roomStat(room, await unavailable(redis.hvals(roomKeys(opts.prefix, ns, room).users)));
    },
    async revoke(ns, sub, rule, ttlMs) {
      const k = clusterKeys(opts.prefix).revoked(ns, sub);
      const fields = rule.tokens.flatMap((t) => [`t:${t}`, '1']);
      await unavailable(redis.rcRevoke(k, rule.before, ttlMs, ...fields));
      // Kept once stored: a revocation the API answered as failed refuses nothing here either.
      revokedHere.add(ns, sub, rule, ttlMs);
    },
    async isRevoked(ns, sub, iat, tokenHash) {
      // What this node revoked is refused without Redis: while Redis is away, or after it lost
      // its data. What only other nodes revoked needs Redis (unavailable: let in, and logged).
      if (revokedHere.has(ns, sub, iat, tokenHash)) return true;
      const k = clusterKeys(opts.prefix).revoked(ns, sub);
      const [before, token] = await unavailable(redis.hmget(k, 'before', `t:${tokenHash}`));
      if (before === null) return false;
      return token !== null || iat === undefined || iat < Number(before);
    },
    announce,
    async watch(ns, room) {
      await unavailable(subscriptions.watch(roomKeys(opts.prefix, ns, room).channel, opts.requestTimeoutMs));
    },
    unwatch(ns, room) {
      subscriptions.unwatch(roomKeys(opts.prefix, ns, room).channel);
    },
    isReady: () =>
      redis.status === 'ready' &&
      clients.pub.status === 'ready' &&
      presence.isHealthy() &&
      subscriptions.isLive(),
    async close() {
      clearInterval(sweepRevocations);
      await settlesWithin(Promise.allSettled([...inFlight]), opts.requestTimeoutMs);
      await settlesWithin(presence.close(), opts.requestTimeoutMs);
      subscriptions.close?.();
    },
  };
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
  const all = await redis.zrangebylex(
    clusterKeys(prefix).rooms(ns),
    `[${start}`,
    start ? `[${start}\u00ff` : '+',
  );
  // Rooms of roomcast's own (`#…`, a name no client can use) are not listed.
  const names = all.filter((n) => !n.startsWith('#'));
  if (names.length === 0) return [];
  // One command per room (rooms live on different slots of a Redis Cluster); sent together.
  const counts = await Promise.all(names.map((room) => redis.hvals(roomKeys(prefix, ns, room).users)));
  return names.map((room, i) => roomStat(room, counts[i] as string[])).filter((r) => r.members > 0);
}

/** A room's counts from its users hash's values (each user's connection count). */
function roomStat(room: string, counts: string[]): RoomStat {
  let connections = 0;
  for (const c of counts) connections += Number(c);
  return { room, members: counts.length, connections };
}

/** Turns any Redis failure into `unavailable`. */
function unavailable<T>(p: Promise<T>): Promise<T> {
  return p.then(undefined, toUnavailable);
}

function toUnavailable(err: unknown): never {
  if (err instanceof RoomcastError) throw err;
  throw new RoomcastError(
    'unavailable',
    `the cluster state (Redis) is unreachable: ${(err as Error).message}`,
  );
}

function idle(policy: HistoryPolicy): number {
  return Math.max(policy.ttlMs, ROOM_IDLE_MS);
}

/**
 * The connection a channel message leaves out, as the channel format can carry it (`|`-separated,
 * latin1): printable ASCII without `|` or spaces. A Socket.IO id is 20 URL-safe characters, with
 * `/ns#` before them for a socket.io-client 2.x client outside `/`. Anything else (a Laravel
 * request's `X-Socket-ID`, unchecked, as `a|b`) names no connection here, and written as it is it
 * would break the message for every node: it is sent as no exception.
 */
function exceptField(id: string | undefined): string {
  return id !== undefined && CONNECTION_ID.test(id) ? id : '';
}

const CONNECTION_ID = /^[\x21-\x7b\x7d\x7e]{1,300}$/;
