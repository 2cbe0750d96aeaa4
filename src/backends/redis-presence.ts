import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { MemberRef } from '../rooms/engine.js';

/** Presence changed other than through a connection's own join or leave (a reap, a return). */
export type PresenceListener = (
  ns: string,
  room: string,
  action: 'join' | 'leave',
  member: MemberRef,
) => void;

import { clusterKeys } from './redis-keys.js';
import { type LocalMember, Memberships, memberId, type RoomLeaves } from './redis-memberships.js';
import type { ScriptedRedis } from './redis-scripts.js';

export interface PresenceOptions {
  prefix: string;
  /**
   * A Redis Cluster: no script crosses slots. A room's scripts touch its own keys only; the node's
   * set (`P:node:<id>`) and the rooms index (`P:rooms:<ns>`) are written by separate commands, in
   * an order that leaves no ghost when a node dies in between (the node set is written first on a
   * join and last on a leave, so a reaper finds every connection a room may hold).
   */
  cluster?: boolean;
  /** A node that has not sent a heartbeat for this long is dead; its members leave. */
  ttlMs: number;
  heartbeatMs: number;
  log: Pick<Logger, 'warn' | 'debug' | 'info'>;
}

/** Nodes claimed (dead or orphaned) per heartbeat at most. */
const MAX_REAP = 10;
/** How long a reaped node's tombstone says "reaped" (so that, back, it announces its users again). */
const REAPED_MARK_MS = 24 * 60 * 60 * 1000;

/**
 * Cluster-wide membership in Redis with no ghosts. Every node registers its connections under its
 * own id (`P:node:<id>`) and heartbeats `P:nodes`; a node silent for `ttlMs` is claimed by exactly
 * one live node (a Lua compare-and-set), which removes its connections and reports the users left
 * with none through the expiry listeners. A node keeps a mirror of its own memberships, so when its
 * registration was lost (Redis lost its data, or the node was frozen and reaped) it re-registers
 * under a fresh id, and after a failed write it reconciles Redis with the mirror.
 *
 * @example
 * const presence = new RedisPresence(redis, { prefix: 'roomcast', ttlMs: 15_000, heartbeatMs: 5_000, log });
 * presence.start();
 * const first = await presence.add('/', 'chat:1', { sub: 'alice', info: null }, socket.id);
 */
export class RedisPresence {
  private node = newNodeId();
  private registered = false;
  private healthy = false;
  private reconcileNeeded = true;
  /** The next reconcile announces `join` for what it registers again: we were reaped (not data loss). */
  private announceReturn = false;
  /**
   * When the heartbeats began to succeed again (0 while they fail, or before the first). A node
   * judges others only a full TTL after it: theirs failed as long as ours, and they need that long
   * to beat again. Reset by a failed heartbeat, not only by a reconnect: a Redis Cluster client
   * stays connected while the shard that holds the node list is away, and every node's
   * registration looks expired once it is back.
   */
  private beatingSince = 0;
  private ticking: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly local = new Map<string, LocalMember>();
  /** The last write of each membership on its way (`inTurn`). */
  private readonly writing = new Map<string, Promise<unknown>>();
  private readonly listeners: PresenceListener[] = [];
  private readonly keys_: ReturnType<typeof clusterKeys>;
  private readonly memberships: Memberships;
  /**
   * Redis's clock minus this node's monotonic one (`performance.now()`, which a step of the wall
   * clock does not move), from the last heartbeat answered within 1 s (ms).
   */
  private clockOffset: number | undefined;

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly opts: PresenceOptions,
  ) {
    this.keys_ = clusterKeys(opts.prefix);
    this.memberships = new Memberships(redis, opts, () => {
      this.reconcileNeeded = true;
    });
  }

  /** Starts the heartbeat; runs one at once and on every (re)connect. */
  start(): void {
    this.redis.on('ready', () => {
      this.beatingSince = 0;
      void this.tick();
    });
    this.redis.on('close', () => {
      this.healthy = false;
      this.reconcileNeeded = true;
    });
    this.timer = setInterval(() => void this.tick(), this.opts.heartbeatMs);
    this.timer.unref();
    void this.tick();
  }

  /**
   * Redis's clock now, as this node reckons it from its heartbeats (within half a heartbeat's
   * round trip, or the clocks' drift since), or undefined before one was answered. On a Redis
   * Cluster, the clock of the shard that holds the node list: the shards' clocks are taken to
   * agree (NTP).
   */
  redisNow(): number | undefined {
    return this.clockOffset === undefined ? undefined : performance.now() + this.clockOffset;
  }

  /** True after a heartbeat and re-registration have succeeded since the last disconnect. */
  isHealthy(): boolean {
    return this.healthy && this.redis.status === 'ready';
  }

  onChanged(listener: PresenceListener): void {
    this.listeners.push(listener);
  }

  /** Adds one connection of a user; true when it is the user's first in the room cluster-wide. */
  async add(ns: string, room: string, member: MemberRef, connId: string): Promise<boolean> {
    const id = memberId(ns, room, connId);
    this.local.set(id, { ns, room, connId, sub: member.sub, info: member.info });
    const node = this.node;
    try {
      return (
        (await this.inTurn(id, () =>
          this.memberships.add(node, { ns, room, connId, sub: member.sub, info: member.info }),
        )) === 1
      );
    } catch (err) {
      this.reconcileNeeded = true;
      throw err;
    }
  }

  /**
   * Runs the writes of one membership one after the other: on a Redis Cluster an add is two steps
   * (the node's set, then the room's script), and a removal run between them left the room's entry
   * for good (neither the node's set nor this node knew of it any more); a join, leave and join
   * again of one connection within a round trip could interleave so too.
   */
  private inTurn<T>(id: string, run: () => Promise<T>): Promise<T> {
    const before = this.writing.get(id);
    const mine = before ? before.then(run, run) : run();
    this.writing.set(id, mine);
    const done = () => {
      if (this.writing.get(id) === mine) this.writing.delete(id);
    };
    mine.then(done, done);
    return mine;
  }

  /** Removes one connection; true when it was the user's last in the room cluster-wide. */
  async remove(ns: string, room: string, connId: string): Promise<boolean> {
    const id = memberId(ns, room, connId);
    this.local.delete(id);
    const node = this.node;
    try {
      const gone = await this.inTurn(id, () =>
        this.memberships.remove(node, ns, room, [`${node}|${connId}`, id]),
      );
      return gone.length > 0;
    } catch (err) {
      this.reconcileNeeded = true;
      throw err;
    }
  }

  /**
   * Stops the heartbeat. Leftover registrations (connections whose leave is still in flight) are
   * handed to the other nodes: the node is marked dead at once, so one of them reports the leaves.
   */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.ticking;
    const nodeKey = this.nodeKey(this.node);
    const clean = this.local.size === 0 && !this.reconcileNeeded;
    const done = clean
      ? [this.redis.zrem(this.nodesKey(), this.node), this.redis.del(nodeKey)]
      : [this.redis.zadd(this.nodesKey(), 0, this.node)];
    await Promise.all(done).catch(() => undefined);
  }

  private nodeKey(id: string): string {
    return this.memberships.nodeKey(id);
  }

  private reapedKey(id: string): string {
    return this.keys_.reaped(id);
  }

  private nodesKey(): string {
    return this.keys_.nodes;
  }

  /** One heartbeat at a time; a tick asked for meanwhile (a reconnect) runs right after. */
  private tick(): Promise<void> {
    if (this.ticking) {
      this.again = true;
      return this.ticking;
    }
    const run = async () => {
      do {
        this.again = false;
        await this.heartbeat();
      } while (this.again);
    };
    this.ticking = run().finally(() => {
      this.ticking = undefined;
    });
    return this.ticking;
  }

  private async heartbeat(): Promise<void> {
    if (this.closed || this.redis.status !== 'ready') return;
    try {
      let [added, dead, stale] = await this.beat();
      if (added === 1 && this.registered) {
        // Our registration is gone: Redis lost its data, or we were frozen and reaped.
        this.opts.log.warn({ node: this.node }, 'presence registration lost; registering again');
        // Reaped (the others saw our users leave) or Redis lost its data (nobody saw anything):
        // only the first needs our users' joins announced again.
        this.announceReturn = (await this.redis.exists(this.reapedKey(this.node))) === 1;
        this.node = newNodeId();
        this.reconcileNeeded = true;
        [added, dead, stale] = await this.beat();
      }
      this.registered = true;
      if (this.reconcileNeeded) {
        this.reconcileNeeded = false;
        await this.reconcile();
      }
      this.healthy = true;
      // Judge others only after a full TTL of good heartbeats: after an outage they need time to beat again.
      if (this.beatingSince === 0) this.beatingSince = Date.now();
      else if (Date.now() - this.beatingSince >= this.opts.ttlMs) await this.reapAll([...dead, ...stale]);
    } catch (err) {
      this.beatingSince = 0;
      this.healthy = false;
      this.reconcileNeeded = true;
      this.opts.log.debug({ err }, 'presence heartbeat failed');
    }
  }

  /** Reaps dead nodes one by one; a failure here does not make this node unhealthy. */
  private async reapAll(ids: string[]): Promise<void> {
    for (const id of new Set(ids)) {
      if (id === this.node) continue;
      try {
        await this.reap(id);
      } catch (err) {
        this.opts.log.warn({ err, node: id }, 'presence: reaping a dead node failed; will retry');
      }
    }
  }

  private async beat(): Promise<[number, string[], string[]]> {
    const reaping = this.keys_.reaping;
    const sent = performance.now();
    const [added, dead, stale, now] = await this.redis.rcHeartbeat(
      this.nodesKey(),
      reaping,
      this.node,
      this.opts.ttlMs,
      MAX_REAP,
    );
    const answered = performance.now();
    if (answered - sent < 1000) this.clockOffset = Number(now) - (sent + answered) / 2;
    return [added, dead, stale];
  }

  /** Makes Redis hold exactly this node's live memberships (after a failed write or a lost registration). */
  private async reconcile(): Promise<void> {
    const node = this.node;
    const stored = new Set(await this.redis.smembers(this.nodeKey(node)));
    const missing = [...this.local].filter(([id]) => !stored.has(id)).map(([, m]) => m);
    const stale = [...stored].filter((id) => !this.local.has(id));
    // Sent together (one round trip on one Redis; spread over the shards of a Cluster).
    const [results, gone] = await Promise.all([
      // In turn with the membership's own writes, and only while it is still here.
      Promise.all(
        missing.map((m) => {
          const id = memberId(m.ns, m.room, m.connId);
          return this.inTurn(id, () =>
            this.local.has(id) ? this.memberships.add(node, m) : Promise.resolve(0),
          );
        }),
      ),
      this.memberships.removeAll(node, stale),
    ]);
    await this.memberships.index(this.local.values());
    // After a reap, a user back in a room is announced again, as on a first join.
    if (this.announceReturn) {
      this.announceReturn = false;
      missing.forEach((m, i) => {
        if (results[i] !== 1) return;
        for (const listener of this.listeners) listener(m.ns, m.room, 'join', { sub: m.sub, info: m.info });
      });
    }
    this.reportGone(gone);
  }

  /** Claims a dead node and removes its memberships; only the claimer reports the leaves. */
  private async reap(id: string): Promise<void> {
    // Marked in the claim, before its memberships go: once anyone can see its users gone, the
    // node finds the mark if it comes back, and announces them again (marked after, a node resumed
    // in between found none, and its users stayed "left" for the others while connected).
    const claimed = await this.redis.rcClaim(
      this.nodesKey(),
      this.keys_.reaping,
      this.reapedKey(id),
      id,
      this.opts.ttlMs,
      REAPED_MARK_MS,
    );
    if (claimed !== 1) return;
    const members = await this.redis.smembers(this.nodeKey(id));
    const gone = await this.memberships.removeAll(id, members);
    await Promise.all([this.redis.del(this.nodeKey(id)), this.redis.zrem(this.keys_.reaping, id)]);
    this.opts.log.info({ node: id, connections: members.length }, 'presence: reaped a dead node');
    this.reportGone(gone);
  }

  private reportGone(rooms: RoomLeaves[]): void {
    for (const { ns, room, gone } of rooms) {
      for (let j = 0; j + 1 < gone.length; j += 2) {
        const member = { sub: gone[j]!, info: JSON.parse(gone[j + 1]!) as unknown };
        for (const listener of this.listeners) listener(ns, room, 'leave', member);
      }
    }
  }
}

function newNodeId(): string {
  return randomBytes(8).toString('hex');
}
