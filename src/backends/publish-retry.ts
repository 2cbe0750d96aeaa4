import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';

/**
 * Re-sends room messages whose (S)PUBLISH failed. A publish is acknowledged once its offset is
 * stored; if Redis goes away between that and the adapter's (S)PUBLISH, the other nodes would not
 * get it live (and if Redis also lost its data, not from history either). So a failed publish on a
 * room's message channel is kept, bounded in count and age, and sent again once the publish
 * connection works. Receivers may get it late or twice; clients order and drop duplicates by
 * offset. Presence events and node-to-node requests are not kept: late, they would do harm.
 *
 * @example
 * const retry = new PublishRetry(pub, (channel) => channel.startsWith('roomcast#/##'), log);
 * pub.spublish(channel, payload).catch(() => retry.failed('spublish', channel, payload));
 */
interface Failed {
  method: 'spublish' | 'publish';
  channel: string;
  payload: string | Buffer;
  until: number;
}

const MAX_KEPT = 10_000;
const KEEP_MS = 60_000;
const RETRY_EVERY_MS = 500;

export class PublishRetry {
  private readonly kept: Failed[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sending = false;

  constructor(
    private readonly pub: Redis,
    private readonly retryable: (channel: string) => boolean,
    private readonly log: Logger,
  ) {
    pub.on('ready', () => void this.flush());
  }

  /** Called with each (S)PUBLISH that was rejected. */
  failed(method: Failed['method'], channel: unknown, payload: unknown): void {
    if (typeof channel !== 'string' || !this.retryable(channel)) return;
    if (typeof payload !== 'string' && !Buffer.isBuffer(payload)) return;
    if (this.kept.length >= MAX_KEPT) {
      this.kept.shift();
      this.log.warn('publish retry queue full: dropped the oldest message (still in history)');
    }
    this.kept.push({ method, channel, payload, until: Date.now() + KEEP_MS });
    this.timer ??= setInterval(() => void this.flush(), RETRY_EVERY_MS);
  }

  /** Stops retrying and forgets what was kept. */
  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.kept.length = 0;
  }

  private async flush(): Promise<void> {
    if (this.sending || this.pub.status !== 'ready') return;
    this.sending = true;
    const batch = this.kept.splice(0).filter((f) => f.until > Date.now());
    try {
      const results = await Promise.allSettled(batch.map((f) => this.send(f)));
      results.forEach((r, i) => {
        if (r.status === 'rejected') this.kept.push(batch[i]!);
      });
      const sent = results.filter((r) => r.status === 'fulfilled').length;
      if (sent > 0)
        this.log.info({ sent, left: this.kept.length }, 'sent room messages again after a failed publish');
    } finally {
      this.sending = false;
      if (this.kept.length === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
    }
  }

  /** Sends through the client's prototype method, so a failure here is not queued twice. */
  private send(f: Failed): Promise<unknown> {
    const proto = Object.getPrototypeOf(this.pub) as Record<string, (...args: unknown[]) => Promise<unknown>>;
    return proto[f.method]!.call(this.pub, f.channel, f.payload);
  }
}
