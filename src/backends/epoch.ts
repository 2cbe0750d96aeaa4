import { randomBytes } from 'node:crypto';

const EPOCH_BYTES = 6;
const POOL_EPOCHS = 512;
let pool = Buffer.alloc(0);
let used = 0;

/**
 * A fresh epoch: 6 random bytes as base64url (8 characters), as before, but drawn from a pool
 * filled by one `randomBytes` call per 512 epochs. The Redis engine passes a candidate with every
 * publish and history read (its script keeps it only for a room whose stream starts), and one
 * `randomBytes(6)` costs 4–5 µs in a loop on this VM (a `getrandom` call each), far more in a
 * busy server (docs/benchmarks.md); a slice of the pool costs a string conversion.
 *
 * @example
 * newEpoch(); // 'q3Ld0Vx8'
 */
export function newEpoch(): string {
  if (used + EPOCH_BYTES > pool.length) {
    pool = randomBytes(EPOCH_BYTES * POOL_EPOCHS);
    used = 0;
  }
  const epoch = pool.toString('base64url', used, used + EPOCH_BYTES);
  used += EPOCH_BYTES;
  return epoch;
}
