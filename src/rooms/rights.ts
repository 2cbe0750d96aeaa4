import type { RoomRights } from '../protocol.js';
import { expandSub, matchesAny } from './patterns.js';

/**
 * What one user may do, from the token's `rooms` claim plus the namespace's rules (which may use
 * `{sub}`). Pure: no I/O, no clock.
 *
 * @example
 * const rights = rightsFor({ subscribe: ['chat:*'] }, 'alice', { subscribe: ['user:{sub}'], publish: [], presence: [] });
 * rights.canSubscribe('user:alice'); // true
 */
export interface Rights {
  readonly subscribe: readonly string[];
  readonly publish: readonly string[];
  readonly presence: readonly string[];
}

export type Right = keyof Rights;

export function rightsFor(claims: RoomRights | undefined, sub: string, rules: Rights): Rights {
  return {
    subscribe: combine(claims?.subscribe, rules.subscribe, sub),
    publish: combine(claims?.publish, rules.publish, sub),
    presence: combine(claims?.presence, rules.presence, sub),
  };
}

export function can(rights: Rights, right: Right, room: string): boolean {
  return matchesAny(rights[right], room);
}

const NONE: readonly string[] = Object.freeze([]);

/** The token's patterns and the rules' (expanded for `sub`); no copy when one side is empty (kept per connection). */
function combine(
  fromToken: readonly string[] | undefined,
  fromRules: readonly string[],
  sub: string,
): readonly string[] {
  if (fromRules.length === 0) return fromToken?.length ? fromToken : NONE;
  const expanded = fromRules.map((p) => expandSub(p, sub)).filter((p): p is string => p !== null);
  return fromToken?.length ? [...fromToken, ...expanded] : expanded;
}
