/**
 * Revocations held in this process (`POST /v1/disconnect` with `reconnect: false`): the one-node
 * engine's list, and a Redis node's copy of what it wrote there.
 */

/** One user's revocation: tokens issued (`iat`) before `before` (seconds), and these token hashes. */
export interface RevocationRule {
  before: number;
  tokens: readonly string[];
}

/**
 * Token hashes kept per user: the newest. A revocation names by hash only the tokens of its own
 * seconds (older ones it refuses by `iat`), a few per connection closed.
 */
const MAX_TOKENS = 100;

/**
 * Revocations held in this process, each until its TTL ends: the one-node engine's list, and a
 * Redis node's copy of the revocations it wrote itself (every node does, for its own connections,
 * when `POST /v1/disconnect` reaches it), which it still holds when Redis cannot be asked. Past
 * `maxEntries` users the oldest revocation is forgotten first; each keeps its newest 100 token
 * hashes.
 *
 * @example
 * const list = new RevocationList();
 * list.add('/', 'alice', { before: 1767225600, tokens: [] }, REVOCATION_TTL_MS);
 * list.has('/', 'alice', 1767225599, hash); // true: issued before the revocation
 */
export class RevocationList {
  private readonly entries = new Map<string, { before: number; tokens: Set<string>; expires: number }>();

  constructor(
    private readonly maxEntries = Number.POSITIVE_INFINITY,
    private readonly now: () => number = Date.now,
  ) {}

  add(ns: string, sub: string, rule: RevocationRule, ttlMs: number): void {
    const k = JSON.stringify([ns, sub]);
    const entry = this.entries.get(k);
    const tokens = new Set(entry?.tokens);
    for (const t of rule.tokens) {
      tokens.delete(t); // named again: now among the newest
      tokens.add(t);
    }
    // The newest hashes, at most MAX_TOKENS (a user revoked over and over is not a growing set).
    for (const old of tokens) {
      if (tokens.size <= MAX_TOKENS) break;
      tokens.delete(old);
    }
    // Set again, so that it counts as the newest (a Map keeps the order keys were set in).
    this.entries.delete(k);
    this.entries.set(k, {
      before: Math.max(entry?.before ?? 0, rule.before),
      tokens,
      expires: this.now() + ttlMs,
    });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string);
  }

  has(ns: string, sub: string, iat: number | undefined, tokenHash: string): boolean {
    if (this.entries.size === 0) return false; // the common case: no key to build on each connect
    const entry = this.entries.get(JSON.stringify([ns, sub]));
    if (!entry || entry.expires < this.now()) return false;
    return entry.tokens.has(tokenHash) || iat === undefined || iat < entry.before;
  }

  /** Users held. */
  get size(): number {
    return this.entries.size;
  }

  /** Drops the revocations whose TTL has ended. */
  sweep(): void {
    const t = this.now();
    for (const [k, r] of this.entries) if (r.expires < t) this.entries.delete(k);
  }
}
