import { describe, expect, it } from 'vitest';
import { DeliveryMarks } from '../../src/hub/marks.js';

describe('DeliveryMarks', () => {
  it('delivers each offset once, in any order', () => {
    const m = new DeliveryMarks();
    expect(m.receive('r', 'e1', 1)).toBe('deliver');
    expect(m.receive('r', 'e1', 2)).toBe('deliver');
    expect(m.receive('r', 'e1', 2)).toBe('duplicate');
    expect(m.receive('r', 'e1', 1)).toBe('duplicate');
    expect(m.receive('r', 'e1', 4)).toBe('deliver');
    expect(m.hasGap('r')).toBe(true);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 2 });
    expect(m.receive('r', 'e1', 3)).toBe('deliver');
    expect(m.hasGap('r')).toBe(false);
    expect(m.receive('r', 'e1', 4)).toBe('duplicate');
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 4 });
  });

  it('refuses an offset delivered out of order a second time, while the gap below it is open', () => {
    const m = new DeliveryMarks();
    expect(m.receive('r', 'e1', 1)).toBe('deliver');
    expect(m.receive('r', 'e1', 3)).toBe('deliver');
    expect(m.receive('r', 'e1', 3)).toBe('duplicate');
    expect(m.receive('r', 'e1', 2)).toBe('deliver');
    expect(m.receive('r', 'e1', 4)).toBe('deliver');
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 4 });
  });

  it('starts a new epoch at offset 1 even when the old one was just below it', () => {
    const m = new DeliveryMarks();
    expect(m.receive('r', 'e1', 7)).toBe('deliver');
    // The next offset of the old epoch, in a new epoch: a reset, not the old stream continuing.
    expect(m.receive('r', 'e2', 8)).toBe('deliver');
    expect(m.fillFrom('r')).toEqual({ epoch: 'e2', offset: 0 });
    expect(m.hasGap('r')).toBe(true);
    expect(m.receive('r', 'e1', 8)).toBe('stale');
  });

  it('starts a room at its first message when nothing was read before', () => {
    const m = new DeliveryMarks();
    expect(m.receive('r', 'e1', 10)).toBe('deliver');
    expect(m.hasGap('r')).toBe(false);
    expect(m.receive('r', 'e1', 9)).toBe('duplicate');
  });

  it('continues after a join read history, and still delivers a message the read already counted', () => {
    const m = new DeliveryMarks();
    m.seed('r', { epoch: 'e1', offset: 5 });
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 5 });
    // Message 5 was published after the subscription and before the read: it is still in flight.
    expect(m.receive('r', 'e1', 5)).toBe('deliver');
    expect(m.receive('r', 'e1', 6)).toBe('deliver');
    expect(m.receive('r', 'e1', 5)).toBe('duplicate');
    m.seed('r', { epoch: 'e1', offset: 1 });
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 6 });
  });

  it('sees a gap between the read and the first message', () => {
    const m = new DeliveryMarks();
    m.seed('r', { epoch: 'e1', offset: 5 });
    expect(m.receive('r', 'e1', 8)).toBe('deliver');
    expect(m.hasGap('r')).toBe(true);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 5 });
  });

  it('ignores a read of a room with no stream', () => {
    const m = new DeliveryMarks();
    m.seed('r', { epoch: '', offset: 0 });
    expect(m.fillFrom('r')).toBeUndefined();
  });

  it('starts over on a new epoch, and drops late messages of the old one', () => {
    const m = new DeliveryMarks();
    m.receive('r', 'e1', 7);
    expect(m.receive('r', 'e2', 3)).toBe('deliver');
    expect(m.hasGap('r')).toBe(true);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e2', offset: 0 });
    expect(m.receive('r', 'e1', 8)).toBe('stale');
    expect(m.receive('r', 'e2', 1)).toBe('deliver');
    expect(m.receive('r', 'e2', 2)).toBe('deliver');
    expect(m.hasGap('r')).toBe(false);
  });

  it('learns from a fill: a new epoch, or history that no longer reaches back', () => {
    const m = new DeliveryMarks();
    m.receive('r', 'e1', 2);
    m.receive('r', 'e1', 9);
    const since = { epoch: 'e1', offset: 2 };
    expect(m.filled('r', since, { epoch: 'e1', offset: 9 }, false, 6)).toBe(false);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 5 });
    expect(m.receive('r', 'e1', 4)).toBe('duplicate');
    expect(m.receive('r', 'e1', 6)).toBe('deliver');
    expect(m.filled('r', { epoch: 'e1', offset: 6 }, { epoch: 'e2', offset: 3 }, false, undefined)).toBe(
      true,
    );
    expect(m.fillFrom('r')).toEqual({ epoch: 'e2', offset: 0 });
    expect(m.filled('r', { epoch: 'e2', offset: 0 }, { epoch: '', offset: 0 }, false, undefined)).toBe(false);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e2', offset: 0 });
  });

  it('ignores a fill read for an epoch the room has left meanwhile (and never skips what is on its way)', () => {
    const m = new DeliveryMarks();
    m.receive('r', 'e1', 5);
    const since = m.fillFrom('r')!;
    // A live message of the new epoch arrives while the fill's read of e1 is out.
    expect(m.receive('r', 'e2', 1)).toBe('deliver');
    // The read answers with e2's position and nothing for e1 (recovered: false): no skip.
    expect(m.filled('r', since, { epoch: 'e2', offset: 8 }, false, undefined)).toBe(true);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e2', offset: 1 });
    expect(m.receive('r', 'e2', 2)).toBe('deliver');
  });

  it('without history, gives up a gap only below what was delivered past it', () => {
    const m = new DeliveryMarks();
    m.receive('r', 'e1', 1);
    m.receive('r', 'e1', 4);
    expect(m.filled('r', { epoch: 'e1', offset: 1 }, { epoch: 'e1', offset: 6 }, false, undefined)).toBe(
      false,
    );
    expect(m.hasGap('r')).toBe(false);
    expect(m.fillFrom('r')).toEqual({ epoch: 'e1', offset: 4 });
    expect(m.receive('r', 'e1', 5)).toBe('deliver');
  });

  it('forgets a room nobody here has joined any more', () => {
    const m = new DeliveryMarks();
    m.receive('r', 'e1', 1);
    m.forget('r');
    expect(m.fillFrom('r')).toBeUndefined();
    expect([...m.rooms()]).toEqual([]);
  });
});
