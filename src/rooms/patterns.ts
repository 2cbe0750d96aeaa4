/**
 * Room-name patterns: an exact name, or a name with `*` standing for any run of characters
 * (`chat:*`, `*`). Config rules may also hold `{sub}`, replaced by the user's `sub` before matching.
 * Compiled matchers are cached and shared by every connection, so a connection's rights cost
 * no memory beyond the claim strings themselves.
 */

export type Matcher = (room: string) => boolean;

const PATTERN_CHARS = /^[A-Za-z0-9_\-:.@/=*{}]+$/;
const cache = new Map<string, Matcher>();
const CACHE_MAX = 10_000;

/** Compiles a pattern; throws on characters a room name cannot hold. */
export function compilePattern(pattern: string): Matcher {
  const hit = cache.get(pattern);
  if (hit) return hit;
  if (pattern.length === 0 || pattern.length > 400 || !PATTERN_CHARS.test(pattern)) {
    throw new Error(`invalid room pattern "${pattern}"`);
  }
  const matcher = globMatcher(pattern);
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(pattern, matcher);
  return matcher;
}

/**
 * Matches `*` as any run of characters and every other character literally. No regular
 * expression: pattern characters never act as regex syntax (`{2}`, `.`), and a pattern with many
 * `*` costs O(room x pattern) at worst instead of backtracking without bound.
 */
function globMatcher(pattern: string): Matcher {
  if (pattern === '*') return () => true;
  if (!pattern.includes('*')) return (room) => room === pattern;
  const parts = pattern.split('*');
  const head = parts[0]!;
  const tail = parts[parts.length - 1]!;
  const middle = parts.slice(1, -1).filter((p) => p.length > 0);
  const minLength = head.length + tail.length + middle.reduce((n, p) => n + p.length, 0);
  return (room) => {
    if (room.length < minLength || !room.startsWith(head) || !room.endsWith(tail)) return false;
    const end = room.length - tail.length;
    let at = head.length;
    // Leftmost match of each middle part is always safe: `*` on either side absorbs the rest.
    for (const part of middle) {
      const i = room.indexOf(part, at);
      if (i < 0 || i + part.length > end) return false;
      at = i + part.length;
    }
    return true;
  };
}

/** True when any pattern matches; patterns that do not compile (bad claims) match nothing. */
export function matchesAny(patterns: readonly string[] | undefined, room: string): boolean {
  if (!patterns) return false;
  for (const p of patterns) {
    let m: Matcher;
    try {
      m = compilePattern(p);
    } catch {
      continue;
    }
    if (m(room)) return true;
  }
  return false;
}

const SUB_IN_ROOM = /^[A-Za-z0-9_\-:.@/=]+$/;

/**
 * Replaces `{sub}` in a config rule with the user's id. A `sub` that a room name cannot hold,
 * or that holds `*`, makes the rule match nothing (`null`): `user:{sub}` must never become `user:*`.
 */
export function expandSub(pattern: string, sub: string): string | null {
  if (!pattern.includes('{sub}')) return pattern;
  return SUB_IN_ROOM.test(sub) ? pattern.replaceAll('{sub}', sub) : null;
}
