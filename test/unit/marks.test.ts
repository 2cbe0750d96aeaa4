import { describe, expect, it } from 'vitest';
import { DeliveryMarks, MAX_HELD, NEXT } from '../../src/hub/marks.js';

/** Marks whose items name their message (`e1:4`); `got` is what one `receive` lets go. */
function marks() {
  const m = new DeliveryMarks<string>();
  const got = (epoch: string, offset: number, room = 'r') => {
    const item = `${epoch}:${offset}`;
    const now = m.receive(room, epoch, offset, item);
    return now === NEXT ? [item] : now;
  };
  return { m, got };
}

describe('DeliveryMarks', () => {
  it('delivers each offset once and in order, holding what comes past a gap until it is filled', () => {
    const { m, got } = marks();
    expect(got('e1', 1)).toEqual(['e1:1']);
    expect(got('e1', 2)).toEqual(['e1:2']);
    expect(got('e1', 2)).toEqual([]);
    expect(got('e1', 1)).toEqual([]);
    expect(got('e1', 4)).toEqual([]);
    expect(got('e1', 5)).toEqual([]);
    expect(m.hasGap('r')).toBe(true);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 2 });
    expect(got('e1', 4)).toEqual([]);
    expect(got('e1', 3)).toEqual(['e1:3', 'e1:4', 'e1:5']);
    expect(m.hasGap('r')).toBe(false);
    expect(got('e1', 4)).toEqual([]);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 5 });
  });

  it('starts a new epoch at offset 1 even when the old one was just below it', () => {
    const { m, got } = marks();
    expect(got('e1', 7)).toEqual(['e1:7']);
    // The next offset of the old epoch, in a new epoch: a reset, not the old stream continuing.
    expect(got('e2', 8)).toEqual([]);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e2', offset: 0 });
    expect(m.hasGap('r')).toBe(true);
    expect(got('e1', 7)).toEqual([]);
    expect(got('e2', 1)).toEqual(['e2:1']);
  });

  it('starts a room at its first message when nothing was read before', () => {
    const { m, got } = marks();
    expect(got('e1', 10)).toEqual(['e1:10']);
    expect(m.hasGap('r')).toBe(false);
    expect(got('e1', 9)).toEqual([]);
  });

  it('continues after a join read history, and still delivers a message the read already counted', () => {
    const { m, got } = marks();
    m.seed('r', { epoch: 'e1', offset: 5 });
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 5 });
    // Message 5 was published after the subscription and before the read: it is still in flight.
    expect(got('e1', 5)).toEqual(['e1:5']);
    expect(got('e1', 6)).toEqual(['e1:6']);
    expect(got('e1', 5)).toEqual([]);
    m.seed('r', { epoch: 'e1', offset: 1 });
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 6 });
  });

  it('sees a gap between the read and the first message', () => {
    const { m, got } = marks();
    m.seed('r', { epoch: 'e1', offset: 5 });
    expect(got('e1', 8)).toEqual([]);
    expect(m.hasGap('r')).toBe(true);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 5 });
    expect(got('e1', 6)).toEqual(['e1:6']);
    expect(got('e1', 7)).toEqual(['e1:7', 'e1:8']);
  });

  it('ignores a read of a room with no stream', () => {
    const { m } = marks();
    m.seed('r', { epoch: '', offset: 0 });
    expect(m.fillFrom('r')).toBeUndefined();
  });

  it('starts over on a new epoch, and drops late messages of the old one', () => {
    const { m, got } = marks();
    got('e1', 7);
    expect(got('e2', 3)).toEqual([]);
    expect(m.hasGap('r')).toBe(true);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e2', offset: 0 });
    expect(got('e1', 7)).toEqual([]);
    expect(got('e2', 1)).toEqual(['e2:1']);
    expect(got('e2', 2)).toEqual(['e2:2', 'e2:3']);
    expect(m.hasGap('r')).toBe(false);
  });

  it('takes back an epoch it left when history says it goes on (a Sentinel failover back), from where it was', () => {
    const { m, got } = marks();
    expect(got('e1', 650)).toEqual(['e1:650']);
    expect(got('e2', 1)).toEqual(['e2:1']);
    expect(got('e2', 2)).toEqual(['e2:2']);
    // A late message of e1, at or below what was delivered of it: dropped, nothing to check.
    expect(got('e1', 650)).toEqual([]);
    expect(m.hasGap('r')).toBe(false);
    // Past it: not switched on one message's word, but checked against history.
    expect(got('e1', 652)).toEqual([]);
    expect(m.hasGap('r')).toBe(true);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e2', offset: 2 });
    // History is in e1 again: the room goes on in e1 after 650, and is read again from there.
    expect(m.filled('r', { epoch: 'e2', offset: 2 }, { epoch: 'e1', offset: 652 }, false, undefined)).toBe(
      true,
    );
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 650 });
    expect(got('e1', 651)).toEqual(['e1:651']);
    expect(got('e1', 652)).toEqual(['e1:652']);
  });

  it('stays in its epoch when history says so, whatever late messages of an old one came', () => {
    const { m, got } = marks();
    got('e1', 49);
    got('e2', 1);
    expect(got('e1', 50)).toEqual([]);
    expect(m.hasGap('r')).toBe(true);
    expect(m.filled('r', { epoch: 'e2', offset: 1 }, { epoch: 'e2', offset: 1 }, true, undefined)).toBe(
      false,
    );
    expect(m.hasGap('r')).toBe(false);
    expect(got('e2', 2)).toEqual(['e2:2']);
  });

  it('gives a gap up when history holds nothing below the held messages', () => {
    const { m, got } = marks();
    got('e1', 1);
    got('e1', 5);
    got('e1', 6);
    m.giveUp('r');
    expect(m.release('r')).toEqual(['e1:5', 'e1:6']);
    expect(m.hasGap('r')).toBe(false);
    // And when history has no stream for the room at all.
    got('e1', 9);
    expect(m.filled('r', { epoch: 'e1', offset: 6 }, { epoch: '', offset: 0 }, false, undefined)).toBe(false);
    expect(m.release('r')).toEqual(['e1:9']);
  });

  it('lets what it held of an epoch go, in order, when the room moves to another', () => {
    const { m, got } = marks();
    got('e1', 1);
    got('e1', 4);
    got('e1', 3);
    expect(got('e2', 1)).toEqual(['e1:3', 'e1:4', 'e2:1']);
    expect(m.hasGap('r')).toBe(false);
    expect(got('e1', 4)).toEqual([]);
  });

  it('learns from a fill: a new epoch, or history that no longer reaches back', () => {
    const { m, got } = marks();
    got('e1', 2);
    got('e1', 9);
    const since = { epoch: 'e1', offset: 2 };
    expect(m.filled('r', since, { epoch: 'e1', offset: 9 }, false, 6)).toBe(false);
    expect(m.release('r')).toEqual([]);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 5 });
    expect(got('e1', 4)).toEqual([]);
    expect(got('e1', 6)).toEqual(['e1:6']);
    expect(got('e1', 7)).toEqual(['e1:7']);
    expect(got('e1', 8)).toEqual(['e1:8', 'e1:9']);
    expect(m.filled('r', { epoch: 'e1', offset: 9 }, { epoch: 'e2', offset: 3 }, false, undefined)).toBe(
      true,
    );
    expect(m.fillFrom('r')).toEqual({ epoch: 'e2', offset: 0 });
    expect(m.filled('r', { epoch: 'e2', offset: 0 }, { epoch: '', offset: 0 }, false, undefined)).toBe(false);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e2', offset: 0 });
  });

  it('follows a fill to an epoch it had before, from what it delivered of it', () => {
    const { m, got } = marks();
    got('e1', 40);
    got('e2', 1);
    got('e2', 5);
    expect(m.filled('r', { epoch: 'e2', offset: 1 }, { epoch: 'e1', offset: 44 }, false, undefined)).toBe(
      true,
    );
    // What e2 held goes out; the fill goes on in e1 after 40.
    expect(m.release('r')).toEqual(['e2:5']);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 40 });
  });

  it('ignores a fill read for an epoch the room has left meanwhile (and never skips what is on its way)', () => {
    const { m, got } = marks();
    got('e1', 5);
    const since = m.fillFrom('r')!;
    // A live message of the new epoch arrives while the fill's read of e1 is out.
    expect(got('e2', 1)).toEqual(['e2:1']);
    // The read answers with e2's position and nothing for e1 (recovered: false): no skip.
    expect(m.filled('r', since, { epoch: 'e2', offset: 8 }, false, undefined)).toBe(true);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e2', offset: 1 });
    expect(got('e2', 2)).toEqual(['e2:2']);
  });

  it('without history, gives up a gap only below what is held past it, and lets that go', () => {
    const { m, got } = marks();
    got('e1', 1);
    got('e1', 4);
    expect(m.filled('r', { epoch: 'e1', offset: 1 }, { epoch: 'e1', offset: 6 }, false, undefined)).toBe(
      false,
    );
    expect(m.release('r')).toEqual(['e1:4']);
    expect(m.hasGap('r')).toBe(false);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 4 });
    expect(got('e1', 5)).toEqual(['e1:5']);
  });

  it('never gives up a held message that history has trimmed already', () => {
    const { m, got } = marks();
    got('e1', 1);
    got('e1', 4);
    // History now starts at 6: 4 is older than what it holds, but 4 is here.
    expect(m.filled('r', { epoch: 'e1', offset: 1 }, { epoch: 'e1', offset: 9 }, false, 6)).toBe(false);
    expect(m.release('r')).toEqual(['e1:4']);
    expect(got('e1', 6)).toEqual([]);
    expect(got('e1', 5)).toEqual(['e1:5', 'e1:6']);
  });

  it(`gives a gap up once ${MAX_HELD} messages wait past it`, () => {
    const { m, got } = marks();
    got('e1', 1);
    for (let o = 3; o < MAX_HELD + 3; o++) expect(got('e1', o)).toEqual([]);
    const out = got('e1', MAX_HELD + 3);
    expect(out).toHaveLength(MAX_HELD + 1);
    expect(out[0]).toBe('e1:3');
    expect(m.hasGap('r')).toBe(false);
  });

  it('gives a gap up when what all rooms hold passes the byte budget, in the room that held the last message', () => {
    // Every item counts 100 bytes; 1,000 may be held in all.
    const m = new DeliveryMarks<string>({ sizeOf: () => 100, maxHeldBytes: 1000 });
    const got = (room: string, offset: number) => {
      const item = `${room}:${offset}`;
      const now = m.receive(room, 'e1', offset, item);
      return now === NEXT ? [item] : now;
    };
    got('a', 1);
    got('b', 1);
    for (let o = 3; o < 9; o++) expect(got('a', o)).toEqual([]);
    for (let o = 3; o < 7; o++) expect(got('b', o)).toEqual([]);
    expect(m.bytesHeld).toBe(1000);
    // The eleventh held message takes the total past 1,000: room b gives its gap up, a keeps waiting.
    expect(got('b', 7)).toEqual(['b:3', 'b:4', 'b:5', 'b:6', 'b:7']);
    expect(m.hasGap('b')).toBe(false);
    expect(m.hasGap('a')).toBe(true);
    expect(m.bytesHeld).toBe(600);
    // A fill of a's gap lets a's go, and the budget is whole again.
    expect(got('a', 2)).toEqual(['a:2', 'a:3', 'a:4', 'a:5', 'a:6', 'a:7', 'a:8']);
    expect(m.bytesHeld).toBe(0);
  });

  it('counts held bytes out again when a room moves epoch or is forgotten', () => {
    const m = new DeliveryMarks<string>({ sizeOf: (s) => s.length });
    m.receive('a', 'e1', 1, 'x');
    m.receive('a', 'e1', 3, 'xxx');
    m.receive('b', 'e1', 1, 'x');
    m.receive('b', 'e1', 3, 'yyyyy');
    expect(m.bytesHeld).toBe(8);
    expect(m.receive('a', 'e2', 1, 'z')).toEqual(['xxx', 'z']);
    expect(m.bytesHeld).toBe(5);
    m.forget('b');
    expect(m.bytesHeld).toBe(0);
  });

  it('forgets a room nobody here has joined any more', () => {
    const { m, got } = marks();
    got('e1', 1);
    m.forget('r');
    expect(m.fillFrom('r')).toBeUndefined();
    expect([...m.rooms()]).toEqual([]);
  });
});
