import { describe, expect, it } from 'vitest';
import { type FillReply, Sequencer, type UnrecoveredReason } from '../../src/client/stream.js';
import type { Envelope, JoinReply, StreamPosition } from '../../src/protocol.js';

function env(offset: number, epoch = 'e1'): Envelope {
  return { id: `m${offset}`, room: 'r', event: 'msg', data: offset, offset, epoch, ts: 0, from: null };
}

function reply(offset: number, messages: Envelope[] = [], recovered = true, epoch = 'e1'): JoinReply {
  return { room: 'r', offset, epoch, recovered, messages };
}

/** A sequencer with a recording sink; fills are answered by the test. */
function setup(maxHeld?: number) {
  const delivered: Array<{ offset: number; replayed: boolean }> = [];
  const fills: Array<{ since: StreamPosition; id: number }> = [];
  const lost: Array<{ reason: UnrecoveredReason; to: StreamPosition }> = [];
  const seq = new Sequencer(
    {
      deliver: (m, replayed) => delivered.push({ offset: m.offset, replayed }),
      fill: (since, id) => fills.push({ since, id }),
      unrecovered: (reason, _from, to) => lost.push({ reason, to }),
    },
    maxHeld,
  );
  const offsets = () => delivered.map((d) => d.offset);
  return { seq, delivered, fills, lost, offsets };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('Sequencer', () => {
  it('gives up a gap whose fill never answers once maxHeld messages wait, and ignores the late answer', () => {
    const { seq, fills, lost, offsets } = setup(3);
    seq.joining();
    seq.joined(reply(1), undefined);
    seq.push(env(3)); // gap at 2: a fill is asked for, and never answered
    expect(fills).toEqual([{ since: { offset: 1, epoch: 'e1' }, id: 1 }]);
    seq.push(env(4));
    seq.push(env(5));
    expect(offsets()).toEqual([]);
    seq.push(env(6)); // a fourth held message: over the bound
    expect(lost).toEqual([{ reason: 'history_trimmed', to: { offset: 2, epoch: 'e1' } }]);
    expect(offsets()).toEqual([3, 4, 5, 6]);
    seq.filled({ offset: 6, epoch: 'e1', messages: [env(2), env(3)] }, 1); // too late
    seq.push(env(7));
    expect(offsets()).toEqual([3, 4, 5, 6, 7]);
    expect(fills).toHaveLength(1);
  });

  it('takes { offset: 0, epoch: "" } (a read of a room with no state) as the start of the epoch', () => {
    const { seq, lost, offsets, delivered } = setup();
    seq.joining();
    seq.joined(reply(2, [env(1), env(2)]), { offset: 0, epoch: '' });
    seq.push(env(3));
    expect(lost).toEqual([]);
    expect(offsets()).toEqual([1, 2, 3]);
    expect(delivered.map((d) => d.replayed)).toEqual([true, true, false]);
  });

  it('starts after the join position and drops what came before or twice', () => {
    const { seq, offsets } = setup();
    seq.joining();
    seq.push(env(3)); // published between subscribe and the history read: before the join position
    seq.push(env(4));
    seq.joined(reply(3), undefined);
    seq.push(env(4));
    seq.push(env(5));
    seq.push(env(5));
    expect(offsets()).toEqual([4, 5]);
  });

  it('delivers recovered messages first, then live ones that waited, each once', () => {
    const { seq, delivered } = setup();
    seq.joining();
    seq.push(env(7));
    seq.push(env(8));
    seq.joined(reply(7, [env(6), env(7)]), { offset: 5, epoch: 'e1' });
    expect(delivered).toEqual([
      { offset: 6, replayed: true },
      { offset: 7, replayed: true },
      { offset: 8, replayed: false },
    ]);
  });

  it('holds messages past a gap, fills it from history, then goes on in order', () => {
    const { seq, fills, offsets } = setup();
    seq.joining();
    seq.joined(reply(1), undefined);
    seq.push(env(2));
    seq.push(env(5));
    seq.push(env(6));
    expect(fills).toHaveLength(1); // one fill at a time
    expect(fills[0]!.since).toEqual({ offset: 2, epoch: 'e1' });
    const answer: FillReply = { offset: 6, epoch: 'e1', messages: [env(3), env(4), env(5), env(6)] };
    seq.filled(answer, fills[0]!.id);
    seq.push(env(7));
    expect(offsets()).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('pages through history cut by a limit', () => {
    const { seq, fills, offsets } = setup();
    seq.joining();
    seq.joined(reply(10, [env(1), env(2)]), { offset: 0, epoch: 'e1' });
    expect(fills[0]!.since.offset).toBe(2); // the join reply stopped short of 10
    seq.filled({ offset: 10, epoch: 'e1', messages: [env(3), env(4), env(5)] }, fills[0]!.id);
    seq.push(env(11));
    expect(fills).toHaveLength(2);
    seq.filled({ offset: 11, epoch: 'e1', messages: range(6, 11).map((o) => env(o)) }, fills[1]!.id);
    expect(offsets()).toEqual(range(1, 11));
  });

  it('says so and jumps ahead when history no longer reaches back', () => {
    const { seq, fills, lost, offsets } = setup();
    seq.joining();
    seq.joined(reply(2), undefined);
    seq.push(env(9));
    seq.filled({ offset: 9, epoch: 'e1', messages: [env(7), env(8), env(9)] }, fills[0]!.id);
    expect(lost).toEqual([{ reason: 'history_trimmed', to: { offset: 6, epoch: 'e1' } }]);
    expect(offsets()).toEqual([7, 8, 9]);
  });

  it('reports a rejoin that is not recovered and starts from what the server has', () => {
    const { seq, lost, offsets } = setup();
    seq.joining();
    seq.joined(reply(20, [], false, 'e2'), { offset: 4, epoch: 'e1' });
    seq.push(env(21, 'e2'));
    expect(lost).toEqual([{ reason: 'epoch_changed', to: { offset: 20, epoch: 'e2' } }]);
    expect(offsets()).toEqual([21]);
  });

  it('fills from history before calling a rejoin that was cut short unrecovered', () => {
    const { seq, fills, lost, delivered } = setup();
    seq.joining();
    seq.joined(reply(2), undefined);
    seq.joining();
    // The broker answers the latest messages with recovered false: more were missed than it replays.
    seq.joined(reply(9, [env(8), env(9)], false), { offset: 2, epoch: 'e1' });
    expect(fills[0]!.since.offset).toBe(2);
    seq.filled({ offset: 9, epoch: 'e1', messages: range(3, 6).map((o) => env(o)) }, fills[0]!.id);
    seq.filled({ offset: 9, epoch: 'e1', messages: range(7, 9).map((o) => env(o)) }, fills[1]!.id);
    expect(lost).toEqual([]);
    expect(delivered.map((d) => d.offset)).toEqual(range(3, 9));
    expect(delivered.every((d) => d.replayed)).toBe(true);
  });

  it('ignores the answer to a fill asked before a rejoin', () => {
    const { seq, fills, offsets } = setup();
    seq.joining();
    seq.joined(reply(1), undefined);
    seq.push(env(4));
    const stale = fills[0]!.id;
    seq.joining();
    seq.joined(reply(4, [env(2), env(3), env(4)]), { offset: 1, epoch: 'e1' });
    seq.filled({ offset: 4, epoch: 'e1', messages: [env(1), env(2)] }, stale);
    expect(offsets()).toEqual([2, 3, 4]);
  });

  it('passes over offsets this connection published without echo', () => {
    const { seq, fills, offsets } = setup();
    seq.passOver({ offset: 2, epoch: 'e1' }); // acknowledged before the join reply
    seq.joining();
    seq.joined(reply(1), undefined);
    seq.push(env(3));
    seq.passOver({ offset: 5, epoch: 'e1' });
    seq.push(env(4));
    seq.push(env(6));
    expect(fills).toHaveLength(0);
    expect(offsets()).toEqual([3, 4, 6]);
  });

  it('does not hand over its own message from a gap fill', () => {
    const { seq, fills, offsets } = setup();
    seq.joining();
    seq.joined(reply(0), undefined);
    seq.passOver({ offset: 2, epoch: 'e1' });
    seq.push(env(3));
    seq.filled({ offset: 3, epoch: 'e1', messages: [env(1), env(2), env(3)] }, fills[0]!.id);
    expect(offsets()).toEqual([1, 3]);
  });

  it('drops what it held of the old epoch when a gap fill answers from a new one', () => {
    const { seq, fills, lost, delivered } = setup();
    seq.joining();
    seq.joined(reply(1), undefined);
    seq.push(env(3)); // held behind a gap at 2 in e1
    seq.push(env(4));
    seq.passOver({ offset: 5, epoch: 'e1' });
    // The broker lost its history meanwhile: the fill answers from e2, which has 2 messages so far.
    seq.filled({ offset: 2, epoch: 'e2', messages: [env(1, 'e2'), env(2, 'e2')] }, fills[0]!.id);
    seq.push(env(3, 'e2'));
    seq.push(env(4, 'e2'));
    seq.push(env(5, 'e2'));
    expect(lost).toEqual([{ reason: 'epoch_changed', to: { offset: 0, epoch: 'e2' } }]);
    expect(delivered.map((d) => `${d.offset}`)).toEqual(['1', '2', '3', '4', '5']);
    expect(delivered.every((d, i) => i < 2 === d.replayed)).toBe(true);
  });

  it('starts a new epoch after what it holds when a fill from a new epoch has no messages', () => {
    const { seq, fills, lost, offsets } = setup();
    seq.joining();
    seq.joined(reply(1), undefined);
    seq.push(env(3)); // held in e1
    seq.filled({ offset: 0, epoch: 'e2', messages: [] }, fills[0]!.id);
    seq.push(env(1, 'e2'));
    expect(lost).toEqual([{ reason: 'epoch_changed', to: { offset: 0, epoch: 'e2' } }]);
    expect(offsets()).toEqual([1]);
  });

  it('delivers what it holds when a fill finds the room with no stream at all', () => {
    const { seq, fills, lost, offsets } = setup();
    seq.joining();
    seq.joined(reply(1), undefined);
    seq.push(env(3)); // held in e1: it was published and sent
    seq.filled({ offset: 0, epoch: '', messages: [] }, fills[0]!.id);
    expect(lost).toEqual([{ reason: 'epoch_changed', to: { offset: 2, epoch: 'e1' } }]);
    expect(offsets()).toEqual([3]);
  });

  it('reads again when a live message of a new epoch came while a fill read the old one', () => {
    const { seq, fills, lost, offsets } = setup();
    seq.joining();
    seq.joined(reply(1), undefined);
    seq.push(env(3)); // a gap at 2: a fill reads e1 since 1
    seq.push(env(1, 'e2')); // history restarted: the stream moves on in e2
    seq.push(env(3, 'e2')); // a gap at e2:2, while the first fill is out
    // The first fill answers from e1: not where the stream is now.
    seq.filled({ offset: 3, epoch: 'e1', messages: [env(2), env(3)] }, fills[0]!.id);
    expect(fills.map((f) => f.since)).toEqual([
      { offset: 1, epoch: 'e1' },
      { offset: 1, epoch: 'e2' },
    ]);
    seq.filled({ offset: 3, epoch: 'e2', messages: [env(2, 'e2'), env(3, 'e2')] }, fills[1]!.id);
    expect(lost).toEqual([{ reason: 'epoch_changed', to: { offset: 0, epoch: 'e2' } }]);
    expect(offsets()).toEqual([1, 2, 3]);
  });

  it('retries a failed fill with the next message past the gap', () => {
    const { seq, fills, offsets } = setup();
    seq.joining();
    seq.joined(reply(0), undefined);
    seq.push(env(2));
    seq.fillFailed(fills[0]!.id);
    seq.push(env(3));
    expect(fills).toHaveLength(2);
    seq.filled({ offset: 3, epoch: 'e1', messages: [env(1), env(2), env(3)] }, fills[1]!.id);
    expect(offsets()).toEqual([1, 2, 3]);
  });
});
