import type { StreamPosition } from '../protocol.js';

/** What this node has delivered of one room. */
interface Mark {
  epoch: string;
  /** Every offset up to here was delivered here, or predates the members' joins. */
  floor: number;
  /** Offsets above `floor` delivered out of order (a gap is open below them). */
  seen: Set<number>;
  /** Set from a join's history read, before any message arrived: the first one may be below it. */
  provisional: boolean;
  /** Epochs this room had here before: a late message of one is dropped. */
  retired: string[];
}

/** What to do with a message that arrives. */
export type Verdict = 'deliver' | 'duplicate' | 'stale';

const RETIRED_KEPT = 4;

/**
 * The bookkeeping of live delivery on one node, per room: which offsets were delivered, so that a
 * connection never gets the same offset twice within an epoch, and which are missing, so that the
 * hub can fill them from history. Pure: no I/O, no timers (the hub owns those).
 *
 * Messages of one room arrive in offset order (one channel, published in the same step that
 * assigned the offset), so a gap means a loss: the node's subscription was down, or a fill is
 * racing the live stream. Filled messages go through `receive` like live ones.
 *
 * @example
 * const marks = new DeliveryMarks();
 * marks.seed('chat', { epoch: 'e1', offset: 4 });   // a join read history up to 4
 * marks.receive('chat', 'e1', 6);                     // 'deliver', and a gap at 5
 * marks.fillFrom('chat');                             // { epoch: 'e1', offset: 4 }
 */
export class DeliveryMarks {
  private readonly marks = new Map<string, Mark>();

  /** A history read for a room with members here: live delivery continues after `position`. */
  seed(room: string, position: StreamPosition): void {
    if (this.marks.has(room) || position.epoch === '') return;
    this.marks.set(room, newMark(position.epoch, position.offset, true));
  }

  /** A message of `room` at `epoch`/`offset` arrived (live or filled): deliver it or not. */
  receive(room: string, epoch: string, offset: number): Verdict {
    let mark = this.marks.get(room);
    if (!mark) {
      this.marks.set(room, newMark(epoch, offset, false));
      return 'deliver';
    }
    if (mark.epoch !== epoch) {
      if (mark.retired.includes(epoch)) return 'stale';
      // History restarted (Redis lost its data): everything of the new epoch is new here.
      const next = newMark(epoch, 0, false);
      next.retired = [mark.epoch, ...mark.retired].slice(0, RETIRED_KEPT);
      this.marks.set(room, next);
      mark = next;
    } else if (mark.provisional) {
      mark.provisional = false;
      if (offset <= mark.floor) mark.floor = offset - 1;
    }
    // The usual case: the next offset, nothing out of order.
    if (offset === mark.floor + 1 && mark.seen.size === 0) {
      mark.floor = offset;
      return 'deliver';
    }
    if (offset <= mark.floor || mark.seen.has(offset)) return 'duplicate';
    mark.seen.add(offset);
    while (mark.seen.delete(mark.floor + 1)) mark.floor++;
    return 'deliver';
  }

  /** True when offsets are missing below one that was delivered. */
  hasGap(room: string): boolean {
    return (this.marks.get(room)?.seen.size ?? 0) > 0;
  }

  /** Where a fill from history starts: everything after this position may be missing here. */
  fillFrom(room: string): StreamPosition | undefined {
    const mark = this.marks.get(room);
    return mark ? { epoch: mark.epoch, offset: mark.floor } : undefined;
  }

  /**
   * History answered a fill of `room` that started at `since` with `position`, `recovered` and
   * `oldest`, the first offset it returned (undefined: none). Returns true when the fill should
   * run again: the room's epoch changed (at Redis, or here while the read was out).
   *
   * With `recovered: false` what history no longer has is gone for good: below `oldest`, or, when
   * it returned nothing, below the first offset delivered past the gap. Never above what was
   * delivered: later offsets may still be on their way (one channel keeps them in order).
   */
  filled(
    room: string,
    since: StreamPosition,
    position: StreamPosition,
    recovered: boolean,
    oldest: number | undefined,
  ): boolean {
    const mark = this.marks.get(room);
    if (!mark) return false;
    // A live message of a new epoch moved the mark while the read was out: read again from it.
    if (since.epoch !== mark.epoch) return true;
    if (position.epoch !== mark.epoch) {
      if (position.epoch === '' || mark.retired.includes(position.epoch)) return false;
      const next = newMark(position.epoch, 0, false);
      next.retired = [mark.epoch, ...mark.retired].slice(0, RETIRED_KEPT);
      this.marks.set(room, next);
      return true;
    }
    if (recovered) return false;
    const gone = oldest !== undefined ? oldest - 1 : Math.min(...mark.seen) - 1;
    if (Number.isFinite(gone) && gone > mark.floor) {
      mark.floor = gone;
      for (const o of mark.seen) if (o <= mark.floor) mark.seen.delete(o);
      while (mark.seen.delete(mark.floor + 1)) mark.floor++;
    }
    return false;
  }

  /** The room has no members here any more. */
  forget(room: string): void {
    this.marks.delete(room);
  }

  rooms(): IterableIterator<string> {
    return this.marks.keys();
  }
}

function newMark(epoch: string, floor: number, provisional: boolean): Mark {
  return { epoch, floor, seen: new Set(), provisional, retired: [] };
}
