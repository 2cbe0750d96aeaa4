import { EventEmitter } from 'node:events';
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { bounded } from './deadline.js';
import { hashSlot } from './redis-keys.js';

interface Conn {
  key: string;
  redis: Redis;
  /** Channels the server confirmed. */
  subscribed: Set<string>;
  pending: Set<string>;
  /** Fails the SSUBSCRIBEs on their way here (a MOVED reply: ioredis settles none of them). */
  inFlight: Set<(err: Error) => void>;
  dead: boolean;
}

export interface ShardSubscriberOptions {
  /** Options of each per-shard connection (TLS, password). */
  redisOptions?: RedisOptions;
  /** Safety-net reconcile period. */
  reconcileIntervalMs?: number;
  /** An SSUBSCRIBE answered with MOVED never settles in ioredis: give up on it after this. */
  subscribeTimeoutMs?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  /** CLIENT SETNAME of the per-shard connections (default `roomcast-rooms`). */
  connectionName?: string;
}

/**
 * Sharded pub/sub on a Redis Cluster: one plain connection per shard primary that owns a wanted
 * channel's slot, routed by the Cluster client's own slot map (kept fresh by its
 * `slotsRefreshInterval`, MOVED replies and `refreshSlotsCache()`).
 *
 * ioredis's own `shardedSubscribers` loses a channel for good when a shard stops serving its slot
 * gracefully (failover, migration: the server pushes `sunsubscribe`) and reconnects in a tight loop
 * while a shard is down. Here `reconcile()` is idempotent and runs on the Cluster's `refresh`,
 * `+node`, `-node`, on a connection's end, on a pushed `sunsubscribe`, on MOVED, and every second:
 * it unsubscribes channels from nodes that no longer own their slot, subscribes missing channels on
 * their owner (one SSUBSCRIBE per slot, bounded), and closes connections that hold none. Failing
 * nodes back off (`min(50·2ⁿ, 1000)` ms).
 *
 * Events: `message(channel, payload)`, `subscribed(channel, { node, resubscribe })` (resubscribe:
 * it was attached before, so messages may have been missed), `detached(channel, { node, reason })`.
 */
export class ShardSubscriber extends EventEmitter {
  /** channel -> attached at least once. */
  private readonly desired = new Map<string, boolean>();
  /** Callers of `subscribe` waiting for a channel to attach. */
  private readonly waiting = new Map<string, Array<{ resolve: () => void; reject: (err: Error) => void }>>();
  private readonly conns = new Map<string, Conn>();
  private readonly timer: NodeJS.Timeout;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private readonly nodeBackoff = new Map<string, { until: number; n: number }>();
  private reconciling = false;
  private again = false;
  /** Shards whose connect and SSUBSCRIBEs are on their way (`attachOwner`, one at a time each). */
  private readonly attaching = new Set<string>();
  private closed = false;
  private readonly o: Required<Omit<ShardSubscriberOptions, 'redisOptions' | 'connectionName'>> &
    ShardSubscriberOptions;
  private readonly onRefresh = () => this.kick();

  constructor(
    private readonly cluster: Cluster,
    opts: ShardSubscriberOptions = {},
  ) {
    super();
    this.o = {
      reconcileIntervalMs: 1000,
      subscribeTimeoutMs: 2000,
      backoffBaseMs: 50,
      backoffMaxMs: 1000,
      ...opts,
    };
    cluster.on('refresh', this.onRefresh);
    cluster.on('+node', this.onRefresh);
    cluster.on('-node', this.onRefresh);
    this.timer = setInterval(() => this.kick(), this.o.reconcileIntervalMs);
    this.timer.unref();
  }

  /** Resolves once the channel is attached on its shard's primary (waits through an outage). */
  async subscribe(channel: string): Promise<void> {
    if (!this.desired.has(channel)) this.desired.set(channel, false);
    await this.reconcile();
    if (this.isAttached(channel)) return;
    if (this.closed) throw new Error('shard subscriber closed');
    if (!this.desired.has(channel)) throw new Error('unsubscribed before it was attached');
    // Kept by channel, not as listeners: a caller that gave up on an outage (its watch timed out)
    // and dropped the channel leaves nothing behind; a listener each stayed until the channel
    // attached, which a room nobody rejoins never does.
    await new Promise<void>((resolve, reject) => {
      let waiters = this.waiting.get(channel);
      if (!waiters) {
        waiters = [];
        this.waiting.set(channel, waiters);
      }
      waiters.push({ resolve, reject });
    });
  }

  /** Settles whoever waits for `channel`: attached (no error), or not any more wanted. */
  private settle(channel: string, err?: Error): void {
    const waiters = this.waiting.get(channel);
    if (!waiters) return;
    this.waiting.delete(channel);
    for (const w of waiters) {
      if (err) w.reject(err);
      else w.resolve();
    }
  }

  unsubscribe(channel: string): void {
    this.settle(channel, new Error('unsubscribed before it was attached'));
    this.desired.delete(channel);
    for (const c of this.conns.values()) {
      if (c.subscribed.delete(channel) && !c.dead) c.redis.sunsubscribe(channel).catch(() => undefined);
    }
    this.gcConns();
  }

  isAttached(channel: string): boolean {
    const owner = this.ownerOf(channel);
    return owner !== undefined && this.conns.get(owner)?.subscribed.has(channel) === true;
  }

  /** True when every wanted channel is attached on its slot's owner. */
  allAttached(): boolean {
    for (const ch of this.desired.keys()) if (!this.isAttached(ch)) return false;
    return true;
  }

  channels(): ReadonlySet<string> {
    return new Set(this.desired.keys());
  }

  /** channel -> the node it is attached to (tests, metrics). */
  attachments(): Record<string, string | null> {
    const out: Record<string, string | null> = {};
    for (const ch of this.desired.keys()) {
      out[ch] = [...this.conns.values()].find((x) => x.subscribed.has(ch))?.key ?? null;
    }
    return out;
  }

  close(): void {
    this.closed = true;
    this.cluster.off('refresh', this.onRefresh);
    this.cluster.off('+node', this.onRefresh);
    this.cluster.off('-node', this.onRefresh);
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    for (const c of this.conns.values()) {
      c.dead = true;
      c.redis.disconnect();
    }
    this.conns.clear();
    for (const channel of [...this.waiting.keys()])
      this.settle(channel, new Error('shard subscriber closed'));
  }

  private kick(): void {
    if (this.closed) return;
    this.reconcile().catch((err: Error) => this.emit('debug', `reconcile failed: ${err.message}`));
  }

  private ownerOf(channel: string): string | undefined {
    // `Cluster.slots`: ioredis's slot map (public in its typings), kept fresh by `refreshSlotsCache`.
    return this.cluster.slots[hashSlot(channel)]?.[0];
  }

  private scheduleRetry(reason: string): void {
    if (this.closed || this.retryTimer) return;
    const delay = Math.min(this.o.backoffBaseMs * 2 ** this.failures, this.o.backoffMaxMs);
    this.failures++;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      // A fresh slot map first; its `refresh` event runs reconcile again.
      this.cluster.refreshSlotsCache(() => this.kick());
    }, delay);
    this.retryTimer.unref();
    this.emit('debug', `retry in ${delay} ms: ${reason}`);
  }

  private detach(conn: Conn, channel: string, reason: string): void {
    if (conn.subscribed.delete(channel)) this.emit('detached', channel, { node: conn.key, reason });
  }

  private killConn(conn: Conn, reason: string): void {
    if (conn.dead) return;
    conn.dead = true;
    for (const ch of [...conn.subscribed]) this.detach(conn, ch, reason);
    conn.pending.clear();
    conn.redis.removeAllListeners('end');
    conn.redis.disconnect();
    if (this.conns.get(conn.key) === conn) this.conns.delete(conn.key);
  }

  private connFor(key: string): Conn {
    const existing = this.conns.get(key);
    if (existing && !existing.dead) return existing;
    const i = key.lastIndexOf(':');
    const redis = new Redis({
      ...this.o.redisOptions,
      host: key.slice(0, i),
      port: Number(key.slice(i + 1)),
      lazyConnect: true,
      retryStrategy: () => null,
      autoResubscribe: false,
      enableOfflineQueue: true,
      maxRetriesPerRequest: 0,
      connectTimeout: 1000,
      connectionName: this.o.connectionName ?? 'roomcast-rooms',
    });
    const conn: Conn = {
      key,
      redis,
      subscribed: new Set(),
      pending: new Set(),
      inFlight: new Set(),
      dead: false,
    };
    redis.on('smessageBuffer', (ch: Buffer, msg: Buffer) => this.emit('message', ch.toString(), msg));
    redis.on('error', (err: Error) => {
      // A pushed `sunsubscribe` reaches ioredis with an empty command queue: "Command queue state
      // error ... Last reply: sunsubscribe,<channel>,<n>".
      const m = /Last reply: sunsubscribe,(.*),(\d+)$/.exec(err.message);
      if (m) {
        this.detach(conn, m[1] ?? '', 'the server unsubscribed (slot moved, failover)');
        this.scheduleRetry('pushed sunsubscribe');
        return;
      }
      this.emit('debug', `${key}: ${err.message}`);
    });
    // An SSUBSCRIBE sent on a stale slot map: ioredis drops it unsettled and says only this. Which
    // one is not known, so all on their way here fail now; left to their timeout, they kept this
    // shard's other channels waiting (the shard is busy while its attach runs).
    redis.on('moved', () => {
      for (const fail of conn.inFlight) fail(new Error(`MOVED on ${key}`));
      this.scheduleRetry(`MOVED on ${key}`);
    });
    redis.once('end', () => {
      this.killConn(conn, 'connection lost');
      this.scheduleRetry(`${key} ended`);
    });
    this.conns.set(key, conn);
    return conn;
  }

  private gcConns(): void {
    for (const c of [...this.conns.values()]) {
      if (c.subscribed.size === 0 && c.pending.size === 0) this.killConn(c, 'unused');
    }
  }

  private async reconcile(): Promise<void> {
    if (this.closed) return;
    if (this.reconciling) {
      this.again = true;
      return;
    }
    this.reconciling = true;
    try {
      do {
        this.again = false;
        await this.reconcileOnce();
      } while (this.again && !this.closed);
    } finally {
      this.reconciling = false;
    }
  }

  private async reconcileOnce(): Promise<void> {
    // 1. Channels attached to a node that no longer owns their slot.
    for (const c of this.conns.values()) {
      for (const ch of [...c.subscribed]) {
        if (!this.desired.has(ch) || this.ownerOf(ch) === c.key) continue;
        this.detach(c, ch, 'slot owner changed');
        if (!c.dead) c.redis.sunsubscribe(ch).catch(() => undefined);
      }
    }
    // 2. Missing channels by current owner.
    const todo = new Map<string, string[]>();
    for (const ch of this.desired.keys()) {
      const owner = this.ownerOf(ch);
      if (!owner) continue; // no slot map yet: `refresh` kicks again
      if (this.attaching.has(owner)) continue; // its attach kicks again when it is over
      const c = this.conns.get(owner);
      if (c && (c.subscribed.has(ch) || c.pending.has(ch))) continue;
      todo.set(owner, [...(todo.get(owner) ?? []), ch]);
    }
    let failed = false;
    const now = Date.now();
    for (const owner of [...todo.keys()]) {
      const b = this.nodeBackoff.get(owner);
      if (b && b.until > now) {
        todo.delete(owner);
        failed = true;
      }
    }
    // 3. Attach, each shard on its own: one that does not answer holds up no other.
    for (const [owner, chans] of todo) {
      this.attaching.add(owner);
      this.attachOwner(owner, chans)
        .catch((err: Error) => {
          this.emit('debug', `attaching on ${owner} failed: ${err.message}`);
          return false;
        })
        .then((done) => {
          this.attaching.delete(owner);
          // Channels of this shard wanted meanwhile; after a failure the retry's backoff runs instead.
          if (done) this.kick();
        });
    }
    this.gcConns();
    if (failed) this.scheduleRetry('reconcile incomplete');
  }

  /**
   * Connects to `owner` and attaches `chans` there, one SSUBSCRIBE per slot (all channels of one
   * SSUBSCRIBE must share a slot). The connect is bounded too: a frozen primary's kernel accepts the
   * TCP connection, and ioredis's ready check then waits with no timeout of its own.
   */
  private async attachOwner(owner: string, chans: string[]): Promise<boolean> {
    const conn = this.connFor(owner);
    // Pending from the start: `gcConns` does not take a connection that is still connecting.
    for (const ch of chans) conn.pending.add(ch);
    let done = false;
    try {
      try {
        if (conn.redis.status === 'wait')
          await bounded(conn.redis.connect(), this.o.subscribeTimeoutMs, 'connect unanswered');
      } catch (err) {
        const n = (this.nodeBackoff.get(owner)?.n ?? 0) + 1;
        const until = Date.now() + Math.min(this.o.backoffBaseMs * 2 ** n, this.o.backoffMaxMs);
        this.nodeBackoff.set(owner, { n, until });
        this.killConn(conn, `connect failed: ${(err as Error).message}`);
        return false;
      }
      this.nodeBackoff.delete(owner);
      const bySlot = new Map<number, string[]>();
      for (const ch of chans) bySlot.set(hashSlot(ch), [...(bySlot.get(hashSlot(ch)) ?? []), ch]);
      await Promise.all([...bySlot.values()].map((group) => this.attach(conn, owner, group)));
      done = chans.every((ch) => conn.subscribed.has(ch) || !this.desired.has(ch));
      return done;
    } finally {
      for (const ch of chans) conn.pending.delete(ch);
      this.gcConns();
      if (done) this.failures = 0;
      else this.scheduleRetry(`attaching on ${owner} incomplete`);
    }
  }

  private async attach(conn: Conn, owner: string, group: string[]): Promise<void> {
    for (const ch of group) conn.pending.add(ch);
    let fail: (err: Error) => void = () => undefined;
    const moved = new Promise<never>((_, reject) => {
      fail = reject;
    });
    conn.inFlight.add(fail);
    try {
      await bounded(
        Promise.race([conn.redis.ssubscribe(...group), moved]),
        this.o.subscribeTimeoutMs,
        'SSUBSCRIBE unanswered',
      );
      if (conn.dead) return;
      for (const ch of group) {
        if (!this.desired.has(ch)) {
          conn.redis.sunsubscribe(ch).catch(() => undefined);
          continue;
        }
        conn.subscribed.add(ch);
        const resubscribe = this.desired.get(ch) === true;
        this.desired.set(ch, true);
        this.emit('subscribed', ch, { node: owner, resubscribe });
        this.settle(ch);
      }
    } catch (err) {
      this.emit('debug', `SSUBSCRIBE on ${owner} failed: ${(err as Error).message}`);
      // The connection's state is unknown now (a MOVED SSUBSCRIBE never settles): start clean.
      this.killConn(conn, 'ssubscribe failed');
    } finally {
      conn.inFlight.delete(fail);
      for (const ch of group) conn.pending.delete(ch);
    }
  }
}
