import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rememberToken, tokenHash } from '../../src/auth/revocation.js';

describe('rememberToken (the tokens a connection presented, for revocation by hash)', () => {
  const at = (sec: number) => sec * 1000;

  it('keeps every token of the last few seconds, and future ones', () => {
    let list = rememberToken(undefined, { hash: 'a', iat: 100 }, at(100));
    list = rememberToken(list, { hash: 'b', iat: 101 }, at(101));
    list = rememberToken(list, { hash: 'c', iat: 500 }, at(102));
    expect(list.map((t) => t.hash)).toEqual(['a', 'b', 'c']);
  });

  it('drops tokens that a revocation refuses by iat alone, so the list stays short', () => {
    let list = rememberToken(undefined, { hash: 'old', iat: 100 }, at(100));
    list = rememberToken(list, { hash: 'no-iat', iat: undefined }, at(100));
    // An hour of refreshes, one a minute.
    for (let m = 1; m <= 60; m++)
      list = rememberToken(list, { hash: `t${m}`, iat: 100 + m * 60 }, at(100 + m * 60));
    expect(list.map((t) => t.hash)).toEqual(['t60']);
  });

  it('always keeps the token just presented, whatever its iat', () => {
    expect(rememberToken([], { hash: 'x', iat: undefined }, at(1000))).toEqual([
      { hash: 'x', iat: undefined },
    ]);
    expect(rememberToken([], { hash: 'y', iat: 1 }, at(1000))).toEqual([{ hash: 'y', iat: 1 }]);
  });

  it('fingerprints tokens with 32 base64url characters', () => {
    expect(tokenHash('a.b.c')).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(tokenHash('a.b.c')).not.toBe(tokenHash('a.b.d'));
    // The first 32 characters of the SHA-256 digest in base64url (what revocations stored in Redis hold).
    expect(tokenHash('a.b.c')).toBe(createHash('sha256').update('a.b.c').digest('base64url').slice(0, 32));
  });
});
