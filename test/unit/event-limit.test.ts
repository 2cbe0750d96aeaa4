import { describe, expect, it } from 'vitest';
import { RoomcastError } from '../../src/errors.js';
import { EventLimit, type LimitHolder } from '../../src/socket/event-limit.js';

describe('EventLimit (limits.eventsPerSecond)', () => {
  it('makes no bucket until the first event', () => {
    const holder: LimitHolder = {};
    expect(holder.bucket).toBeUndefined();
    new EventLimit(5).take(holder);
    expect(holder.bucket).toBeDefined();
  });

  it("lets a new connection send a second's events at once, then refuses with rate_limited and retryAfter", () => {
    const limit = new EventLimit(100);
    const holder: LimitHolder = {};
    for (let i = 0; i < 100; i++) limit.take(holder);
    let refused: unknown;
    try {
      // Refills at 0.1 event per ms: a burst of 20 more cannot all pass.
      for (let i = 0; i < 20; i++) limit.take(holder);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(RoomcastError);
    expect(refused).toMatchObject({ code: 'rate_limited', retryAfter: 1 });
  });

  it('keeps each connection to its own bucket', () => {
    const limit = new EventLimit(2);
    const a: LimitHolder = {};
    const b: LimitHolder = {};
    limit.take(a);
    limit.take(a);
    expect(() => limit.take(a)).toThrow(RoomcastError);
    expect(() => limit.take(b)).not.toThrow();
  });
});
