import { describe, expect, it } from 'vitest';
import { andThen, attempt } from '../../src/rooms/maybe.js';

describe('MaybePromise helpers', () => {
  it('andThen runs now on a value, and after the promise on a promise', async () => {
    const order: string[] = [];
    const now = andThen(2, (v) => {
      order.push('now');
      return v * 2;
    });
    expect(now).toBe(4);
    const later = andThen(Promise.resolve(3), (v) => {
      order.push('later');
      return v * 2;
    });
    order.push('after the call');
    expect(later).toBeInstanceOf(Promise);
    expect(await later).toBe(6);
    expect(order).toEqual(['now', 'after the call', 'later']);
  });

  it('attempt recovers a throw now and a rejection later, and leaves a success alone', async () => {
    const recover = (err: unknown) => `recovered ${(err as Error).message}`;
    expect(attempt(() => 'fine', recover)).toBe('fine');
    expect(
      attempt(() => {
        throw new Error('now');
      }, recover),
    ).toBe('recovered now');
    expect(await attempt(() => Promise.reject(new Error('later')), recover)).toBe('recovered later');
    expect(await attempt(() => Promise.resolve('fine later'), recover)).toBe('fine later');
  });

  it('attempt passes on what recover throws', async () => {
    const rethrow = (err: unknown) => {
      throw new Error(`still ${(err as Error).message}`);
    };
    expect(() =>
      attempt(() => {
        throw new Error('now');
      }, rethrow),
    ).toThrow('still now');
    await expect(attempt(() => Promise.reject(new Error('later')), rethrow)).rejects.toThrow('still later');
  });
});
