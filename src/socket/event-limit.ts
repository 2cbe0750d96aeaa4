import { TokenBucket } from 'limiter';
import { RoomcastError } from '../errors.js';

/** Where a connection keeps its bucket (made at its first event: an idle connection holds none). */
export interface LimitHolder {
  bucket?: TokenBucket;
}

/**
 * A per-second limit, per holder: a token bucket (the `limiter` package) that holds one second's
 * events and refills continuously. `limits.eventsPerSecond` uses it per connection, and
 * `api.rateLimitPerSecond` per API key. The check is synchronous, so an event that passes costs no
 * promise, no timer and no map lookup.
 *
 * @example
 * const limit = new EventLimit(100);
 * limit.take(socket.data); // throws RoomcastError('rate_limited', ..., { retryAfter })
 */
export class EventLimit {
  constructor(
    private readonly perSecond: number,
    private readonly message = 'too many events; slow down',
  ) {}

  /** Counts one event of the connection; throws `rate_limited` (with `retryAfter` in seconds) past the limit. */
  take(holder: LimitHolder): void {
    let bucket = holder.bucket;
    if (!bucket) {
      bucket = new TokenBucket({
        bucketSize: this.perSecond,
        tokensPerInterval: this.perSecond,
        interval: 1000,
      });
      // A bucket starts empty; a new connection may send a second's worth of events at once.
      bucket.content = this.perSecond;
      holder.bucket = bucket;
    }
    if (bucket.tryRemoveTokens(1)) return;
    const retryAfter = Math.max(1, Math.ceil(bucket.getWaitTime(1) / 1000));
    throw new RoomcastError('rate_limited', this.message, { retryAfter });
  }
}
