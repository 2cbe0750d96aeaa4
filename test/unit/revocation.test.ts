import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { rememberToken, tokenHash } from '../../src/auth/revocation.js';
import { RevocationList } from '../../src/rooms/revocations.js';

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

describe('RevocationList (revocations held in this process)', () => {
  it('refuses tokens issued before the revocation, without iat, or named by hash; no one else', () => {
    const list = new RevocationList();
    list.add('/', 'alice', { before: 100, tokens: ['h1'] }, 60_000);
    expect(list.has('/', 'alice', 99, 'x')).toBe(true);
    expect(list.has('/', 'alice', undefined, 'x')).toBe(true);
    expect(list.has('/', 'alice', 100, 'h1')).toBe(true);
    expect(list.has('/', 'alice', 100, 'x')).toBe(false);
    expect(list.has('/', 'bob', 99, 'h1')).toBe(false);
    expect(list.has('/chat', 'alice', 99, 'h1')).toBe(false);
  });

  it('merges a second revocation of a user: the later `before`, every hash', () => {
    const list = new RevocationList();
    list.add('/', 'alice', { before: 200, tokens: ['h1'] }, 60_000);
    list.add('/', 'alice', { before: 100, tokens: ['h2'] }, 60_000);
    expect(list.has('/', 'alice', 150, 'x')).toBe(true);
    expect(list.has('/', 'alice', 300, 'h1')).toBe(true);
    expect(list.has('/', 'alice', 300, 'h2')).toBe(true);
  });

  it('forgets a revocation once its TTL has passed, and sweeps it', () => {
    let t = 1_000;
    const list = new RevocationList(Number.POSITIVE_INFINITY, () => t);
    list.add('/', 'alice', { before: 100, tokens: [] }, 500);
    t = 1_500;
    expect(list.has('/', 'alice', 99, 'x')).toBe(true);
    t = 1_501;
    expect(list.has('/', 'alice', 99, 'x')).toBe(false);
    list.add('/', 'bob', { before: 100, tokens: [] }, 500);
    expect(list.size).toBe(2);
    list.sweep();
    expect(list.size).toBe(1);
    expect(list.has('/', 'bob', 99, 'x')).toBe(true);
  });

  it("keeps a user's newest 100 token hashes; one named again counts as new", () => {
    const list = new RevocationList();
    for (let i = 0; i < 120; i += 10) {
      const tokens = Array.from({ length: 10 }, (_, j) => `h${i + j}`);
      list.add('/', 'alice', { before: 100, tokens }, 60_000);
    }
    expect(list.has('/', 'alice', 200, 'h119')).toBe(true);
    expect(list.has('/', 'alice', 200, 'h20')).toBe(true);
    expect(list.has('/', 'alice', 200, 'h19')).toBe(false);
    // h20 named again: h21 is now the oldest, and goes when one more comes.
    list.add('/', 'alice', { before: 100, tokens: ['h20', 'h120'] }, 60_000);
    expect(list.has('/', 'alice', 200, 'h20')).toBe(true);
    expect(list.has('/', 'alice', 200, 'h21')).toBe(false);
  });

  it('past its size, forgets the user revoked longest ago first (a new revocation counts as new)', () => {
    const list = new RevocationList(2);
    list.add('/', 'a', { before: 100, tokens: [] }, 60_000);
    list.add('/', 'b', { before: 100, tokens: [] }, 60_000);
    list.add('/', 'a', { before: 100, tokens: [] }, 60_000);
    list.add('/', 'c', { before: 100, tokens: [] }, 60_000);
    expect(['a', 'b', 'c'].map((u) => list.has('/', u, 99, 'x'))).toEqual([true, false, true]);
  });
});
