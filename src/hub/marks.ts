import type { StreamPosition } from '../protocol.js';

/** An epoch this room had here before, and how far it was delivered then. */
interface Retired {
  epoch: string;
  floor: number;
}

/** What this node has delivered of one room. */
interface Mark<T> {
  epoch: string;
  /** Every offset up to here was delivered here, or predates the members' joins. */
  floor: number;
  /** Messages above a gap, held until the gap is filled (or given up) so they go out in order. */
  held: Map<number, T>;
  /** The bytes of `held`, as the marks' `sizeOf` counts them. */
  heldBytes: number;
  /** Set from a join's history read, before any message arrived: the first one may be below it. */
  provisional: boolean;
  /** Epochs this room had here before (newest first): a late message of one is dropped. */
  retired: Retired[];
  /** Held messages of an epoch the room has left: handed out by the next `receive` or `release`. */
  leftover: T[];
  /** A message of a retired epoch came past what was delivered of it: history is to say which epoch is the room's. */
  recheck: boolean;
}

const RETIRED_KEPT = 4;
/** What `receive` answers for the usual case, the next offset with nothing held: deliver it alone. */
export const NEXT = 1;
/** Messages held behind one room's gap before the gap is given up (a fill that never closes it). */
export const MAX_HELD = 10_000;
/** Bytes of messages held behind gaps, all rooms of one `DeliveryMarks` together (one namespace). */
export const MAX_HELD_BYTES = 64 * 1024 * 1024;

export interface MarksOptions<T> {
  /** The bytes one held item keeps alive; asked only of items that are held. Default: 0. */
  sizeOf?: (item: T) => number;
  /** The held bytes of all rooms together past which the room that holds one more gives its gap up. */
  maxHeldBytes?: number;
}

/**
 * The bookkeeping of live delivery on one node, per room: which offsets were delivered, so that a
 * connection never gets the same offset twice within an epoch and gets a room's messages in offset
 * order, and which are missing, so that the hub can fill them from history. Pure: no I/O, no
 * timers (the hub owns those). `T` is what the hub delivers (a message and its sender).
 *
 * Messages of one room arrive in offset order (one channel, published in the same step that
 * assigned the offset), so a gap means a loss: the node's subscription was down, or a fill is
 * racing the live stream. A message above a gap is held until the fill has delivered what is
 * below it; filled messages go through `receive` like live ones. What history no longer has is
 * given up (`filled` with `recovered: false`), and so is a gap with `MAX_HELD` messages above it,
 * or whose next held message takes the bytes held by all rooms past `maxHeldBytes` (a fill that
 * cannot read history while large messages keep coming must not grow the node without bound).
 *
 * An epoch the room left can come back (Redis Sentinel promoting the old primary again, whose
 * history goes on from where it was). A live message of a retired epoch is dropped, but when it is
 * past what was delivered of that epoch here the room is checked against history (`hasGap`), and
 * when history is in that epoch again it goes on from where it was delivered. A late message of
 * an old epoch alone never switches the room back.
 *
 * @example
 * const marks = new DeliveryMarks<Envelope>();
 * marks.seed('chat', { epoch: 'e1', offset: 4 });   // a join read history up to 4
 * marks.receive('chat', 'e1', 6, m6);                // [] (held), and a gap at 5
 * marks.fillFrom('chat');                             // { epoch: 'e1', offset: 4 }
 * marks.receive('chat', 'e1', 5, m5);                // [m5, m6]
 * marks.receive('chat', 'e1', 7, m7);                // NEXT: deliver m7
 */
export class DeliveryMarks<T> {
  private readonly marks = new Map<string, Mark<T>>();
  private readonly sizeOf: (item: T) => number;
  private readonly maxHeldBytes: number;
  /** The bytes held by every room's `held` together. */
  private heldBytes = 0;

  constructor(opts: MarksOptions<T> = {}) {
    this.sizeOf = opts.sizeOf ?? (() => 0);
    this.maxHeldBytes = opts.maxHeldBytes ?? MAX_HELD_BYTES;
  }

  /** The bytes of messages held behind gaps now, every room together. */
  get bytesHeld(): number {
    return this.heldBytes;
  }

  /** A history read for a room with members here: live delivery continues after `position`. */
  seed(room: string, position: StreamPosition): void {
    if (this.marks.has(room) || position.epoch === '') return;
    this.marks.set(room, newMark(position.epoch, position.offset, true));
  }

  /**
   * A message of `room` at `epoch`/`offset` arrived (live or filled): `NEXT` when it is to be
   * delivered now and alone (the usual case, with nothing allocated), else what to deliver now, in
   * order: empty when it is held behind a gap, a duplicate, or a late message of an old epoch.
   */
  receive(room: string, epoch: string, offset: number, item: T): T[] | typeof NEXT {
    let mark = this.marks.get(room);
    if (!mark) {
      this.marks.set(room, newMark(epoch, offset, false));
      return NEXT;
    }
    if (mark.epoch !== epoch) {
      const old = mark.retired.find((r) => r.epoch === epoch);
      if (old) {
        // Late, or its epoch came back: history decides (a fill), not one message.
        if (offset > old.floor) mark.recheck = true;
        return [];
      }
      // History restarted (Redis lost its data): everything of the new epoch is new here.
      mark = this.switchTo(room, mark, epoch, 0);
    } else if (mark.provisional) {
      mark.provisional = false;
      if (offset <= mark.floor) mark.floor = offset - 1;
    }
    // The usual case: the next offset, nothing held.
    if (offset === mark.floor + 1 && mark.held.size === 0 && mark.leftover.length === 0) {
      mark.floor = offset;
      return NEXT;
    }
    const out = mark.leftover.length > 0 ? mark.leftover.splice(0) : [];
    if (offset === mark.floor + 1 && mark.held.size === 0) {
      mark.floor = offset;
      out.push(item);
      return out;
    }
    if (offset <= mark.floor || mark.held.has(offset)) return out;
    mark.held.set(offset, item);
    this.addHeld(mark, this.sizeOf(item));
    this.drain(mark, out);
    if (mark.held.size > MAX_HELD || this.heldBytes > this.maxHeldBytes) {
      // The gap is given up: what is held goes out from its oldest message on.
      belowHeld(mark);
      this.drain(mark, out);
    }
    return out;
  }

  /** True when messages are held above a gap, or the room's epoch is to be checked against history. */
  hasGap(room: string): boolean {
    const mark = this.marks.get(room);
    return mark !== undefined && (mark.held.size > 0 || mark.recheck);
  }

  /**
   * History holds nothing of what is missing below the held messages (a fill read everything it
   * has after the floor, and the gap is still there): it is given up, and `release` lets the held
   * messages go.
   */
  giveUp(room: string): void {
    const mark = this.marks.get(room);
    if (mark) belowHeld(mark);
  }

  /** Where a fill from history starts: everything after this position may be missing here. */
  fillFrom(room: string): StreamPosition | undefined {
    const mark = this.marks.get(room);
    return mark ? { epoch: mark.epoch, offset: mark.floor } : undefined;
  }

  /**
   * History answered a fill of `room` that started at `since` with `position`, `recovered` and
   * `oldest`, the first offset it returned (undefined: none). Returns true when the fill should
   * run again: the room's epoch changed (at Redis, or here while the read was out). What a move
   * of the floor lets go of comes from `release`.
   *
   * With `recovered: false` what history no longer has is gone for good: below `oldest`, or, when
   * it returned nothing, below the first message held past the gap.
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
    mark.recheck = false;
    if (position.epoch !== mark.epoch) {
      // The room has no stream at all now: nothing below the held messages can come.
      if (position.epoch === '') {
        this.giveUp(room);
        return false;
      }
      // History is in another epoch now (a new one, or one this room had before, come back).
      const old = mark.retired.find((r) => r.epoch === position.epoch);
      this.switchTo(room, mark, position.epoch, old?.floor ?? 0);
      return true;
    }
    if (recovered) return false;
    // Never past a held message: it is on its way here although history no longer has it.
    const gone = Math.min(oldest ?? Number.POSITIVE_INFINITY, ...mark.held.keys()) - 1;
    if (Number.isFinite(gone) && gone > mark.floor) mark.floor = gone;
    return false;
  }

  /** Held messages that follow on from the room's floor now, in order (after `filled`). */
  release(room: string): T[] {
    const mark = this.marks.get(room);
    if (!mark) return [];
    const out = mark.leftover.length > 0 ? mark.leftover.splice(0) : [];
    this.drain(mark, out);
    return out;
  }

  /** The room has no members here any more. */
  forget(room: string): void {
    const mark = this.marks.get(room);
    if (mark) this.addHeld(mark, -mark.heldBytes);
    this.marks.delete(room);
  }

  rooms(): IterableIterator<string> {
    return this.marks.keys();
  }

  /**
   * Starts `epoch` at `floor`; the current epoch is retired with what was delivered of it, and
   * the messages it held go out first (in order; what was missing below them is not coming).
   */
  private switchTo(room: string, mark: Mark<T>, epoch: string, floor: number): Mark<T> {
    const next = newMark<T>(epoch, floor, false);
    const retired = { epoch: mark.epoch, floor: Math.max(mark.floor, ...mark.held.keys()) };
    next.retired = [retired, ...mark.retired.filter((r) => r.epoch !== epoch)].slice(0, RETIRED_KEPT);
    next.leftover = [...mark.leftover, ...[...mark.held].sort((a, b) => a[0] - b[0]).map(([, m]) => m)];
    // Leftovers are handed out by the next `receive` or `release`, in this same step of the hub.
    this.addHeld(mark, -mark.heldBytes);
    this.marks.set(room, next);
    return next;
  }

  /**
   * Moves the floor over the held messages that now follow on, appending them to `out`. Every held
   * offset is above the floor (the floor moves past a held one only through here, and `filled` and
   * `giveUp` stop below the lowest), so nothing else is to be dropped.
   */
  private drain(mark: Mark<T>, out: T[]): void {
    for (let next = mark.held.get(mark.floor + 1); next !== undefined; next = mark.held.get(mark.floor + 1)) {
      mark.held.delete(mark.floor + 1);
      mark.floor++;
      out.push(next);
      this.addHeld(mark, mark.held.size === 0 ? -mark.heldBytes : -this.sizeOf(next));
    }
  }

  private addHeld(mark: Mark<T>, bytes: number): void {
    mark.heldBytes += bytes;
    this.heldBytes += bytes;
  }
}

/** Moves the floor to just below the oldest held message (the gap below it is given up). */
function belowHeld(mark: Mark<unknown>): void {
  if (mark.held.size > 0) mark.floor = Math.min(...mark.held.keys()) - 1;
}

function newMark<T>(epoch: string, floor: number, provisional: boolean): Mark<T> {
  return {
    epoch,
    floor,
    held: new Map(),
    heldBytes: 0,
    provisional,
    retired: [],
    leftover: [],
    recheck: false,
  };
}
