import { describe, expect, it } from 'vitest';
import { MessageIds } from '../../src/rooms/message-id.js';

const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('message ids', () => {
  it('are UUID-shaped (version 8, the RFC 9562 variant) and never repeat', () => {
    const ids = new MessageIds();
    const seen = new Set<string>();
    for (let i = 0; i < 10_000; i++) {
      const id = ids.next();
      expect(id).toMatch(UUID_V8);
      seen.add(id);
    }
    expect(seen.size).toBe(10_000);
  });

  it('differ between two sources (two processes, or one restarted)', () => {
    const a = new MessageIds().next();
    const b = new MessageIds().next();
    expect(a.slice(0, 24)).not.toBe(b.slice(0, 24));
    expect(a.slice(24)).toBe(b.slice(24));
  });

  it('take a new random prefix when the counter runs out, and stay distinct', () => {
    const ids = new MessageIds(4);
    const made = Array.from({ length: 9 }, () => ids.next());
    expect(new Set(made).size).toBe(9);
    expect(new Set(made.map((id) => id.slice(0, 24))).size).toBe(3);
    for (const id of made) expect(id).toMatch(UUID_V8);
  });
});
