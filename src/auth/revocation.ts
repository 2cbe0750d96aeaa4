import { hash } from 'node:crypto';
import { RoomcastError } from '../errors.js';
import { andThen, attempt, type MaybePromise } from '../rooms/maybe.js';

/** How long `POST /v1/disconnect { reconnect: false }` keeps refusing a user's earlier tokens. */
export const REVOCATION_TTL_MS = 7 * 24 * 3600 * 1000;

/**
 * A token's fingerprint for revocation lists: a revoked connection's exact token is refused even
 * when it was issued in the same second as the revocation (`iat` counts whole seconds). Made on
 * every connect: the one-shot `crypto.hash` costs half of a `createHash` chain (about 1 against 2 µs).
 */
export function tokenHash(token: string): string {
  // The first 24 bytes, encoded: the same 32 characters as the digest's base64url cut to 32, as
  // a string of its own (a cut would keep the whole digest string alive behind it, per connection).
  return hash('sha256', token, 'buffer').toString('base64url', 0, 24);
}

/** A token a connection presented (at connect, or in a `refresh`), kept so a revocation can name it. */
export interface PresentedToken {
  readonly hash: string;
  readonly iat: number | undefined;
}

/** Seconds of clock difference between nodes that `rememberToken` allows for. */
const CLOCK_MARGIN_SEC = 5;

/**
 * The tokens a connection presented, `token` added. A revocation refuses every token issued in an
 * earlier second by `iat` alone (and every token without `iat`), so only tokens issued in the last
 * few seconds, or in the future, need their hash kept: the list stays at one or two entries
 * however often a connection refreshes.
 */
export function rememberToken(
  list: readonly PresentedToken[] | undefined,
  token: PresentedToken,
  nowMs = Date.now(),
): PresentedToken[] {
  if (!list || list.length === 0) return [token]; // a connect: nothing to keep (a literal is its own size)
  const oldest = Math.floor(nowMs / 1000) - CLOCK_MARGIN_SEC;
  const kept = list.filter((t) => t.iat !== undefined && t.iat >= oldest);
  // Not `push` (or a spread): those leave room for 16 more entries (about 130 bytes) in an array
  // every connection keeps; `concat` makes it the size it is.
  return kept.concat([token]);
}

/** What the revocation check needs of the engine (src/rooms/engine.ts). */
interface RevocationStore {
  isRevoked(ns: string, sub: string, iat: number | undefined, tokenHash: string): MaybePromise<boolean>;
}

/**
 * Throws `token_revoked` when the user's token was revoked (`POST /v1/disconnect` with
 * `reconnect: false`). When the check cannot be made (Redis away, and no copy of a revocation on
 * this node) the token is let in and `onUnavailable` is told: connections keep working through a
 * Redis outage, as everything else. Resolves to whether the check was made (false: let in
 * unchecked). An engine that answers at once (memory) is answered in this tick (a throw, not a
 * rejection).
 */
export function checkNotRevoked(
  store: RevocationStore,
  ns: string,
  claims: { sub: string; iat?: number },
  hash: string,
  onUnavailable: (err: unknown) => void,
): MaybePromise<boolean> {
  let checked = true;
  const revoked = attempt(
    () => store.isRevoked(ns, claims.sub, claims.iat, hash),
    (err) => {
      checked = false;
      onUnavailable(err);
      return false;
    },
  );
  return andThen(revoked, (yes) => {
    if (yes) throw new RoomcastError('token_revoked', 'this token was revoked; ask the app for a new one');
    return checked;
  });
}
