import type { Cluster, RedisOptions } from 'ioredis';
import type { Logger } from '../logger.js';
import { bounded } from './deadline.js';
import { ShardSubscriber } from './redis-shard-subscriber.js';
import type { RoomChannels } from './redis-subscriptions.js';

/**
 * The room subscriptions of a node on a Redis Cluster (the counterpart of RoomSubscriptions): each
 * room channel on the shard that owns its slot. A channel attached again after it was lost (a
 * failover, a slot migration) may have missed messages: `onResubscribed` then lets the hub fill
 * every room from history (once per burst of re-attachments).
 *
 * @example
 * const subs = new ShardRoomSubscriptions(cluster, { nodeOptions: {}, onMessage, onResubscribed, log });
 * await subs.watch('roomcast:{/:chat}:m', 2500);
 */
export class ShardRoomSubscriptions implements RoomChannels {
  private readonly sub: ShardSubscriber;
  private resyncDue = false;
  private settle: NodeJS.Timeout | undefined;

  constructor(
    private readonly cluster: Cluster,
    opts: {
      nodeOptions: RedisOptions;
      onMessage(channel: string, payload: Buffer): void;
      onResubscribed(): void;
      log: Logger;
    },
  ) {
    this.sub = new ShardSubscriber(cluster, { redisOptions: opts.nodeOptions });
    this.sub.on('message', opts.onMessage);
    this.sub.on('debug', (msg: string) => opts.log.debug({ msg }, 'redis shard subscriber'));
    this.sub.on('detached', (channel: string, info: { node: string; reason: string }) =>
      opts.log.debug({ channel, ...info }, 'redis: room channel detached'),
    );
    this.sub.on('subscribed', (_channel: string, info: { resubscribe: boolean }) => {
      if (!info.resubscribe || this.resyncDue) return;
      this.resyncDue = true;
      setImmediate(() => {
        this.resyncDue = false;
        opts.onResubscribed();
      });
      // Once more when the shards have settled: rooms re-attach one shard at a time during a
      // failover, and a fill that ran while another shard was still switching is done again.
      clearTimeout(this.settle);
      this.settle = setTimeout(() => opts.onResubscribed(), SETTLE_MS);
      this.settle.unref();
    });
  }

  isLive(): boolean {
    return this.cluster.status === 'ready' && this.sub.allAttached();
  }

  watch(channel: string, timeoutMs: number): Promise<void> {
    return bounded(
      this.sub.subscribe(channel),
      timeoutMs,
      `no answer to the subscription of ${channel} within ${timeoutMs} ms`,
    );
  }

  unwatch(channel: string): void {
    this.sub.unsubscribe(channel);
  }

  channels(): ReadonlySet<string> {
    return this.sub.channels();
  }

  close(): void {
    clearTimeout(this.settle);
    this.sub.close();
  }
}

/** After the last re-attachment of a burst, every room is checked against history once more. */
const SETTLE_MS = 2000;
