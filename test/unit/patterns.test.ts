import { describe, expect, it } from 'vitest';
import { compilePattern, expandSub, matchesAny } from '../../src/rooms/patterns.js';
import { can, rightsFor } from '../../src/rooms/rights.js';

const NO_RULES = { subscribe: [], publish: [], presence: [] };

describe('room patterns', () => {
  it.each([
    ['*', 'anything', true],
    ['*', 'a', true],
    ['chat:lobby', 'chat:lobby', true],
    ['chat:lobby', 'chat:lobby2', false],
    ['chat:lobby', 'chat:lobb', false],
    ['chat:*', 'chat:1', true],
    ['chat:*', 'chat:', true],
    ['chat:*', 'chat', false],
    ['chat:*', 'xchat:1', false],
    ['*:admin', 'team:admin', true],
    ['*:admin', 'team:admins', false],
    ['team:*:admin', 'team:x:admin', true],
    ['team:*:admin', 'team::admin', true],
    ['team:*:admin', 'team:x:y:admin', true],
    ['team:*:admin', 'team:admin', false],
    ['a*a', 'a', false],
    ['a*a', 'aa', true],
    ['a*b*c', 'abc', true],
    ['a*b*c', 'acb', false],
    ['a*b*c', 'aXbYbZc', true],
    ['**', 'x', true],
    ['a**b', 'ab', true],
  ])('%s against %s is %s', (pattern, room, expected) => {
    expect(compilePattern(pattern)(room)).toBe(expected);
  });

  it('treats regex metacharacters literally', () => {
    expect(compilePattern('chat.*')('chatX1')).toBe(false);
    expect(compilePattern('chat.*')('chat.1')).toBe(true);
    expect(compilePattern('a.b')('axb')).toBe(false);
    // `{2}` is a regex quantifier; here it is two literal characters no room name can hold.
    expect(compilePattern('ab{2}*x')('abbx')).toBe(false);
    expect(compilePattern('ab{2}*')('abb')).toBe(false);
    expect(compilePattern('x{1}')('x')).toBe(false);
  });

  it('refuses characters a room name cannot hold', () => {
    for (const bad of ['', 'chat:[ab]', 'a|b', '(a)', 'a+', 'a?', '^a', 'a$', 'a b', 'a\\d', '#x', 'é*']) {
      expect(() => compilePattern(bad), bad).toThrow();
      expect(matchesAny([bad], 'a'), bad).toBe(false);
    }
    expect(() => compilePattern('a'.repeat(401))).toThrow();
  });

  // The test's own timeout is the bound: the regex version took minutes here.
  it('stays fast on a pattern with many stars (no backtracking blow-up)', { timeout: 5000 }, () => {
    const pattern = `${'a*'.repeat(100)}b`;
    expect(compilePattern(pattern)('a'.repeat(200))).toBe(false);
    expect(compilePattern(pattern)(`${'a'.repeat(99)}b`)).toBe(false);
    expect(compilePattern(pattern)(`${'a'.repeat(199)}b`)).toBe(true);
    expect(compilePattern(`${'a*'.repeat(50)}b`)(`${'a'.repeat(60)}b`)).toBe(true);
  });

  it('matchesAny skips bad patterns and needs a list', () => {
    expect(matchesAny(undefined, 'a')).toBe(false);
    expect(matchesAny([], 'a')).toBe(false);
    expect(matchesAny(['(', 'a'], 'a')).toBe(true);
  });
});

describe('{sub} expansion', () => {
  it('replaces every {sub}', () => {
    expect(expandSub('user:{sub}', 'alice')).toBe('user:alice');
    expect(expandSub('u:{sub}:{sub}', 'bob')).toBe('u:bob:bob');
    expect(expandSub('public:*', 'alice')).toBe('public:*');
  });

  it.each([
    ['*', 'a star would widen the rule to every user'],
    ['a*', 'a star inside'],
    ['{sub}', 'braces'],
    ['a b', 'a space'],
    ['café', 'non-ASCII'],
    ['', 'empty'],
    ['a#b', 'the internal prefix'],
  ])('makes the rule match nothing for sub %j (%s)', (sub) => {
    expect(expandSub('user:{sub}', sub)).toBeNull();
    const rights = rightsFor(undefined, sub, { ...NO_RULES, subscribe: ['user:{sub}'] });
    expect(rights.subscribe).toEqual([]);
    expect(can(rights, 'subscribe', 'user:bob')).toBe(false);
    expect(can(rights, 'subscribe', 'user:*x')).toBe(false);
  });
});

describe('rights', () => {
  it('come from the token claim', () => {
    const r = rightsFor({ subscribe: ['chat:*'], publish: ['chat:1'] }, 'alice', NO_RULES);
    expect(can(r, 'subscribe', 'chat:9')).toBe(true);
    expect(can(r, 'publish', 'chat:1')).toBe(true);
    expect(can(r, 'publish', 'chat:2')).toBe(false);
    expect(can(r, 'presence', 'chat:1')).toBe(false);
  });

  it('add config rules, with {sub}, for every user', () => {
    const rules = { subscribe: ['public:*', 'user:{sub}'], publish: ['user:{sub}'], presence: [] };
    const alice = rightsFor(undefined, 'alice', rules);
    expect(can(alice, 'subscribe', 'public:news')).toBe(true);
    expect(can(alice, 'subscribe', 'user:alice')).toBe(true);
    expect(can(alice, 'subscribe', 'user:bob')).toBe(false);
    expect(can(alice, 'publish', 'user:alice')).toBe(true);
    const both = rightsFor({ subscribe: ['chat:*'] }, 'bob', rules);
    expect(both.subscribe).toEqual(['chat:*', 'public:*', 'user:bob']);
  });

  it('do not expand {sub} inside token claims', () => {
    const r = rightsFor({ subscribe: ['user:{sub}'] }, 'alice', NO_RULES);
    expect(can(r, 'subscribe', 'user:alice')).toBe(false);
  });

  it('give nothing without claims or rules', () => {
    const r = rightsFor({}, 'alice', NO_RULES);
    for (const right of ['subscribe', 'publish', 'presence'] as const) expect(can(r, right, 'a')).toBe(false);
  });
});
