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
  let matcher: Matcher;
  if (pattern === '*') matcher = () => true;
  else if (!pattern.includes('*')) matcher = (room) => room === pattern;
  else if (pattern.indexOf('*') === pattern.length - 1 && !pattern.slice(0, -1).includes('*')) {
    const prefix = pattern.slice(0, -1);
    matcher = (room) => room.startsWith(prefix);
  } else {
    const source = pattern
      .split('*')
      .map((part) => part.replace(/[.]/g, '\\.'))
      .join('.*');
    const re = new RegExp(`^${source}$`);
    matcher = (room) => re.test(room);
  }
  if (cache.size >= CACHE_MAX) cache.clear();
  cache.set(pattern, matcher);
  return matcher;
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
