import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

/** SSUBSCRIBE (Redis 7 sharded pub/sub) or SUBSCRIBE (classic, Redis 6). */
export type PubSubMode = 'sharded' | 'classic';

/** The room channels a node subscribes to: on one connection, or one per shard (Redis Cluster). */
export interface RoomChannels {
  /** Subscribes to `channel`; resolves when Redis has answered, rejects after `timeoutMs`. */
  watch(channel: string, timeoutMs: number): Promise<void>;
  unwatch(channel: string): void;
  /** True while every wanted channel is subscribed. */
  isLive(): boolean;
  channels(): ReadonlySet<string>;
  close?(): void;
}

/**
 * The room channels this node subscribes to, on a connection of its own. The wanted set is the
 * truth; the connection follows it: a channel is subscribed while wanted, and after a reconnect
 * every wanted channel is subscribed again before the node counts as live (ioredis's own
 * resubscription is off, so there is exactly one place that decides). While Redis is away nothing
 * is queued: the wanted set just changes, so the work after an outage is bounded by the number of
 * rooms, however often clients retried.
 *
 * `watch` resolves once the subscription that covers it has been answered by Redis: a message
 * published after that reaches this node, so a history read made afterwards misses nothing.
 *
 * @example
 * const subs = new RoomSubscriptions(subClient, 'sharded', { onMessage, onResubscribed, log });
 * await subs.watch('roomcast:{/:chat}:m');
 */
export class RoomSubscriptions implements RoomChannels {
  private readonly wanted = new Set<string>();
  private readonly live = new Set<string>();
  /** Per channel: how many (un)subscribe commands were sent, and who waits for which. */
  private readonly sent = new Map<string, number>();
  private readonly waiting = new Map<string, Array<{ after: number; done: (ok: boolean) => void }>>();
  private resubscribing = false;
  private connections = 0;

  constructor(
    private readonly sub: Redis,
    private readonly mode: PubSubMode,
    private readonly opts: {
      onMessage(channel: string, payload: Buffer): void;
      /** The connection came back and every wanted channel is subscribed again. */
      onResubscribed(): void;
      log: Logger;
    },
  ) {
    const event = mode === 'sharded' ? 'smessageBuffer' : 'messageBuffer';
    sub.on(event, (channel: Buffer, payload: Buffer) => opts.onMessage(channel.toString(), payload));
    sub.on('close', () => {
      this.live.clear();
      this.resubscribing = false;
    });
    sub.on('ready', () => void this.resubscribeAll());
  }

  /** True while connected and every wanted channel is subscribed. */
  isLive(): boolean {
    return this.sub.status === 'ready' && !this.resubscribing;
  }

  /** Subscribes to `channel`; resolves when Redis has answered, rejects after `timeoutMs`. */
  watch(channel: string, timeoutMs: number): Promise<void> {
    this.wanted.add(channel);
    if (this.live.has(channel)) return Promise.resolve();
    const after = this.sub.status === 'ready' && !this.resubscribing ? this.send(channel, true) : -1;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        finish(false);
      }, timeoutMs);
      const finish = (ok: boolean) => {
        clearTimeout(timer);
        const list = this.waiting.get(channel);
        const i = list?.findIndex((w) => w.done === finish) ?? -1;
        if (list && i >= 0) list.splice(i, 1);
        if (list?.length === 0) this.waiting.delete(channel);
        if (ok) resolve();
        else reject(new Error(`no answer to the subscription of ${channel} within ${timeoutMs} ms`));
      };
      const list = this.waiting.get(channel) ?? [];
      list.push({ after, done: finish });
      this.waiting.set(channel, list);
    });
  }

  /** Unsubscribes from `channel` (at once when connected; a reconnect leaves it out anyway). */
  unwatch(channel: string): void {
    this.wanted.delete(channel);
    this.live.delete(channel);
    if (this.sub.status === 'ready' && !this.resubscribing) this.send(channel, false);
  }

  /** The channels wanted now (for tests and metrics). */
  channels(): ReadonlySet<string> {
    return this.wanted;
  }

  private send(channel: string, subscribe: boolean): number {
    const n = (this.sent.get(channel) ?? 0) + 1;
    this.sent.set(channel, n);
    const command =
      this.mode === 'sharded'
        ? subscribe
          ? this.sub.ssubscribe(channel)
          : this.sub.sunsubscribe(channel)
        : subscribe
          ? this.sub.subscribe(channel)
          : this.sub.unsubscribe(channel);
    command.then(
      () => {
        if (subscribe) this.answered(channel, n);
        else if (this.sent.get(channel) === n && !this.wanted.has(channel)) this.sent.delete(channel);
      },
      (err: Error) => this.opts.log.debug({ err: err.message, channel }, 'redis (un)subscribe failed'),
    );
    return n;
  }

  /** A SUBSCRIBE numbered `n` was answered: live if nothing went out for the channel since. */
  private answered(channel: string, n: number): void {
    if (this.sent.get(channel) === n && this.wanted.has(channel)) this.live.add(channel);
    this.release(channel, n);
  }

  /** Wakes the watchers of `channel` that wait for a subscribe sent at or before `upTo`. */
  private release(channel: string, upTo: number): void {
    for (const w of [...(this.waiting.get(channel) ?? [])]) if (w.after <= upTo) w.done(true);
  }

  private async resubscribeAll(): Promise<void> {
    const mine = ++this.connections;
    this.resubscribing = true;
    const channels = [...this.wanted];
    const results = await Promise.allSettled(
      channels.map((channel) => {
        const n = (this.sent.get(channel) ?? 0) + 1;
        this.sent.set(channel, n);
        return this.mode === 'sharded' ? this.sub.ssubscribe(channel) : this.sub.subscribe(channel);
      }),
    );
    if (mine !== this.connections || this.sub.status !== 'ready') return;
    if (results.some((r) => r.status === 'rejected')) {
      this.opts.log.warn('redis: resubscribing failed; the connection will be retried');
      this.sub.disconnect(true);
      return;
    }
    // What changed while the commands were out is applied now, in order.
    for (const channel of channels) if (!this.wanted.has(channel)) this.send(channel, false);
    for (const channel of this.wanted) {
      if (channels.includes(channel)) this.live.add(channel);
      else this.send(channel, true);
    }
    this.resubscribing = false;
    for (const channel of this.live) this.release(channel, Number.POSITIVE_INFINITY);
    if (mine > 1 || channels.length > 0) this.opts.onResubscribed();
  }
}
