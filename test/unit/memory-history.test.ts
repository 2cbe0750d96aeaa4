import { describe, expect, it } from 'vitest';
import { createMemoryEngine } from '../../src/backends/memory-engine.js';
import { RoomHistory } from '../../src/backends/memory-history.js';
import type { Envelope, StreamPosition } from '../../src/protocol.js';
import { type Draft, type HistoryQuery, selectHistory, toEnvelope } from '../../src/rooms/engine.js';
import { RecordingSink } from '../engine/engine-suite.js';

const author = { sub: 'alice', info: { name: 'Älice' } };

function draft(n: number, overrides: Partial<Draft> = {}): Draft {
  return {
    id: `id-${n}`,
    room: 'r',
    event: 'msg',
    data: { n },
    ts: 1_700_000_000_000 + n,
    from: n % 2 ? author : null,
    ...overrides,
  };
}

/** The same messages kept two ways: as the columns, and as envelopes `selectHistory` reads. */
function both(size: number) {
  const h = new RoomHistory();
  let kept: Envelope[] = [];
  let offset = 0;
  return {
    h,
    get position(): StreamPosition {
      return { offset, epoch: 'e1' };
    },
    get kept() {
      return kept;
    },
    push(d: Draft, binary = false) {
      h.push(d, binary ? undefined : JSON.stringify(d.data), size);
      kept.push(toEnvelope(d, ++offset, 'e1'));
      kept = kept.slice(Math.max(0, kept.length - size));
    },
    trim(cutoff: number) {
      h.trim(size, cutoff);
      kept = kept.filter((m, i) => i >= kept.length - size && m.ts >= cutoff);
    },
  };
}

describe('RoomHistory (the memory engine history)', () => {
  it('answers every query as selectHistory does over the same envelopes', () => {
    const s = both(10);
    const queries = (): HistoryQuery[] => {
      const out: HistoryQuery[] = [];
      for (const limit of [0, 1, 3, 10, 100]) {
        out.push({ limit });
        for (let since = -1; since <= s.position.offset + 2; since++) {
          for (const epoch of ['e1', 'e0', '']) out.push({ limit, since: { offset: since, epoch } });
        }
      }
      return out;
    };
    const check = () => {
      for (const q of queries()) {
        expect(s.h.select('r', s.position, q), JSON.stringify(q)).toEqual(
          selectHistory(s.kept, s.position, q),
        );
      }
    };
    check(); // empty
    for (let n = 1; n <= 25; n++) {
      s.push(draft(n));
      if (n % 4 === 0) check();
    }
    s.trim(1_700_000_000_000 + 20); // drops 16..19 by age
    expect(s.h.length).toBe(6);
    check();
    s.trim(Number.POSITIVE_INFINITY);
    expect(s.h.length).toBe(0);
    check();
  });

  it('keeps answering alike as its ring grows, wraps and is trimmed by age mid-ring', () => {
    for (const size of [1, 3, 7, 10]) {
      const s = both(size);
      const check = (q: HistoryQuery) =>
        expect(s.h.select('r', s.position, q), `size ${size} ${JSON.stringify(q)}`).toEqual(
          selectHistory(s.kept, s.position, q),
        );
      for (let n = 1; n <= 40; n++) {
        s.push(draft(n));
        if (n % 9 === 0) s.trim(1_700_000_000_000 + n - 1); // all but the two newest are too old
        check({ limit: 100 });
        check({ limit: 2, since: { offset: Math.max(0, n - 3), epoch: 'e1' } });
      }
      expect(s.h.length).toBe(Math.min(size, 6)); // 35 and 36 kept at the last trim, then 37-40
    }
  });

  it('gives back ids, events and payloads as they were: binary, non-ASCII, long and odd ones', () => {
    const s = both(10);
    const bytes = new Uint8Array([0, 1, 255]);
    s.push(draft(1, { data: { file: bytes } }), true);
    s.push(draft(2, { event: 'ünïcødé ✓', data: { text: '日本語 \u0000 "quoted"' } }));
    s.push(draft(3, { event: 'x'.repeat(70_000), id: 'y'.repeat(70_000) }));
    s.push(draft(4, { event: 'e', data: null }));
    s.push(draft(5, { id: '', data: [1, 'two', { three: 3 }] }));
    const got = s.h.select('r', s.position, { limit: 10 });
    expect(got.messages).toEqual(s.kept);
    expect((got.messages[0]!.data as { file: Uint8Array }).file).toBe(bytes);
    expect(got.messages.map((m) => m.from)).toEqual([author, null, author, null, author]);
  });

  it('keeps at most size messages, the newest', () => {
    const s = both(3);
    for (let n = 1; n <= 7; n++) s.push(draft(n));
    expect(s.h.select('r', s.position, { limit: 100 }).messages.map((m) => m.offset)).toEqual([5, 6, 7]);
    expect(s.h.select('r', s.position, { limit: 100 }).messages.map((m) => m.id)).toEqual([
      'id-5',
      'id-6',
      'id-7',
    ]);
  });

  it('in the engine: a publish that fails takes no offset, so stored offsets stay right', () => {
    const engine = createMemoryEngine(new RecordingSink());
    const policy = { size: 10, ttlMs: 0 };
    engine.publish('/', draft(1), policy);
    // JSON cannot hold a BigInt: the payload's JSON throws, before the message is given an offset.
    expect(() => engine.publish('/', draft(2, { data: { n: 2n } }), policy)).toThrow();
    engine.publish('/', draft(3), policy);
    const read = engine.history('/', 'r', { limit: 10 }, policy) as { messages: Envelope[]; offset: number };
    expect(read.offset).toBe(2);
    expect(read.messages.map((m) => [m.offset, m.id])).toEqual([
      [1, 'id-1'],
      [2, 'id-3'],
    ]);
  });
});
