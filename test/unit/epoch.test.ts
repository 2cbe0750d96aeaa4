import { describe, expect, it } from 'vitest';
import { newEpoch } from '../../src/backends/epoch.js';

describe('newEpoch', () => {
  it('gives 8 base64url characters (6 random bytes), never the same twice across pool refills', () => {
    const seen = new Set<string>();
    // More than three pools of 512.
    for (let i = 0; i < 2000; i++) {
      const epoch = newEpoch();
      expect(epoch).toMatch(/^[A-Za-z0-9_-]{8}$/);
      seen.add(epoch);
    }
    expect(seen.size).toBe(2000);
  });
});
