import type { Envelope, JoinReply, StreamPosition } from '../protocol.js';

/** Why a room could not be resumed exactly where it was. */
export type UnrecoveredReason = 'epoch_changed' | 'history_trimmed';

export interface StreamSink {
  /** Hands one message to the app; called once per offset, in order. */
  deliver(envelope: Envelope, replayed: boolean): void;
  /** Asks for the messages after `since` (a history request); the answer goes to `filled(reply, id)`. */
  fill(since: StreamPosition, id: number): void;
  /** Tells the app that messages between `from` and the new position are lost to it. */
  unrecovered(reason: UnrecoveredReason, from: StreamPosition | null, to: StreamPosition): void;
}

/** What a history fill answered: messages after the asked position, and where the room stands. */
export interface FillReply extends StreamPosition {
  messages: Envelope[];
}

/**
 * The ordering core of one room, with no I/O: it turns live messages, join replies and history
 * answers into one gap-free, duplicate-free, ordered stream.
 *
 * - A message at or below the position is a duplicate and is dropped.
 * - The next offset is delivered, then any held messages that now follow on.
 * - A message beyond the next offset is held and a gap fill (history `since` the position) is
 *   asked for; one fill at a time.
 * - While a join is in flight, live messages wait; the join reply sets the position first.
 * - When history no longer reaches back (or the epoch changed) the stream jumps to what is
 *   available and says so through `unrecovered`.
 * - At most `maxHeld` messages wait behind a gap: past that the gap is given up (reported through
 *   `unrecovered`, a fill still in flight is ignored) so a fill that never answers cannot grow
 *   memory without bound.
 *
 * @example
 * const seq = new Sequencer({ deliver, fill, unrecovered });
 * seq.joining();
 * seq.push(liveEnvelope);          // waits
 * seq.joined(joinReply, since);    // delivers the recovered messages, then the waiting ones
 */
/** Messages held behind a gap before the gap is given up on (a fill that never comes back). */
export const MAX_HELD = 10_000;

export class Sequencer {
  private pos: StreamPosition | null = null;
  private mode: 'joining' | 'live' | 'filling' = 'joining';
  private held = new Map<number, { m: Envelope; replayed: boolean }>();
  private early: Envelope[] = [];
  /** Offsets this connection published without echo: they never come live and are not delivered. */
  private skipped = new Set<number>();
  private earlySkips: StreamPosition[] = [];
  private fillId = 0;
  /** The epoch the fill in flight reads from. */
  private fillEpoch = '';

  constructor(
    private readonly sink: StreamSink,
    private readonly maxHeld = MAX_HELD,
  ) {}

  /** The last delivered position, or where the room stood at join; null before the first join. */
  get position(): StreamPosition | null {
    return this.pos ? { ...this.pos } : null;
  }

  /** True while a gap fill is in flight. */
  get filling(): boolean {
    return this.mode === 'filling';
  }

  /** A join (or rejoin) was sent: hold live messages until its reply. */
  joining(): void {
    this.mode = 'joining';
    this.early = [];
  }

  /** A live message from the socket. */
  push(envelope: Envelope): void {
    if (this.mode === 'joining') this.early.push(envelope);
    else this.accept(envelope, false);
  }

  /**
   * The join reply; `since` is what the join asked for. A reply that is not `recovered` in the same
   * epoch may only have been cut short (the broker's `historyLimit`): the gap is filled from history
   * first, and only what history no longer has is reported as lost.
   */
  joined(reply: JoinReply, asked: StreamPosition | undefined): void {
    // `{ offset: 0, epoch: '' }` (a read of a room that had no state) is the start of the reply's epoch.
    const since = asked?.epoch === '' && asked.offset === 0 ? { offset: 0, epoch: reply.epoch } : asked;
    const first = reply.messages[0];
    const resumable = since !== undefined && since.epoch === reply.epoch && since.offset <= reply.offset;
    if (resumable) {
      this.pos = { ...since };
    } else {
      const to = first ? { epoch: first.epoch, offset: first.offset - 1 } : position(reply);
      if (since)
        this.sink.unrecovered(since.epoch === reply.epoch ? 'history_trimmed' : 'epoch_changed', since, to);
      this.pos = to;
    }
    if (this.held.size && [...this.held.values()][0]?.m.epoch !== this.pos.epoch) this.held.clear();
    if (!resumable) this.skipped.clear();
    for (const p of this.earlySkips.splice(0)) {
      if (p.epoch === this.pos.epoch && p.offset > this.pos.offset) this.skipped.add(p.offset);
    }
    this.drain();
    this.mode = 'live';
    for (const m of reply.messages) {
      if (resumable && !reply.recovered) this.hold(m, true);
      else this.accept(m, true);
    }
    const early = this.early;
    this.early = [];
    for (const m of early) this.accept(m, false);
    // The reply may stop short of where the room stood (a history limit): fetch the rest.
    if (this.mode === 'live' && this.pos.epoch === reply.epoch && this.pos.offset < reply.offset) {
      this.startFill();
    }
  }

  /** The answer to fill request `id`; answers to older requests (before a rejoin) are ignored. */
  filled(reply: FillReply, id: number): void {
    if (this.mode !== 'filling' || id !== this.fillId || !this.pos) return;
    this.mode = 'live';
    const from = this.pos;
    if (from.epoch !== this.fillEpoch) {
      // A live message of a new epoch moved the stream while the read was out: it read the old one.
      if (this.held.size > 0) this.startFill();
      return;
    }
    const first = reply.messages[0];
    const reaches =
      reply.epoch === from.epoch && (first ? first.offset <= from.offset + 1 : reply.offset <= from.offset);
    if (!reaches) {
      const sameEpoch = reply.epoch === from.epoch;
      // What it holds of an older epoch is not where a new one goes on (`moveTo` drops it). A room
      // with no stream at all (epoch `''`: its state is gone) has no new one yet: what is held did
      // come, and goes out.
      const next = first ?? (sameEpoch || reply.epoch === '' ? this.oldestHeld() : undefined);
      const to = next ? { epoch: next.epoch, offset: next.offset - 1 } : position(reply);
      this.sink.unrecovered(sameEpoch ? 'history_trimmed' : 'epoch_changed', from, to);
      this.moveTo(to);
    }
    for (const m of reply.messages) this.accept(m, true);
    this.drain();
    if (this.mode !== 'live') return;
    if (this.pos.epoch === reply.epoch && this.pos.offset < reply.offset && reply.messages.length > 0) {
      this.startFill(); // the answer was cut by a limit: ask for the next page
      return;
    }
    if (this.held.size === 0) return;
    // History does not have what we hold a gap before: skip to the held messages.
    const next = this.oldestHeld();
    if (!next) return;
    const to = { epoch: next.epoch, offset: next.offset - 1 };
    this.sink.unrecovered('history_trimmed', this.pos, to);
    this.pos = to;
    this.drain();
  }

  /** An offset this connection published without echo: pass over it instead of filling a gap. */
  passOver(p: StreamPosition): void {
    if (this.mode === 'joining' || !this.pos) {
      this.earlySkips.push(p); // applied once the join reply sets the position
      return;
    }
    if (p.epoch !== this.pos.epoch || p.offset <= this.pos.offset) return;
    this.skipped.add(p.offset);
    this.drain();
  }

  /** Fill request `id` failed (timeout, disconnected): the next message past the gap or the next join retries. */
  fillFailed(id: number): void {
    if (this.mode === 'filling' && id === this.fillId) this.mode = 'live';
  }

  /**
   * Asks again after fill `id` failed with a temporary error, from where the stream stands now;
   * nothing when another fill or a rejoin came since (that one carries on).
   */
  retryFill(id: number): void {
    if (this.mode === 'live' && id === this.fillId) this.startFill();
  }

  private accept(m: Envelope, replayed: boolean): void {
    if (!this.pos) return;
    if (m.epoch !== this.pos.epoch) {
      // History restarted under us (a broker lost its state): start over at this message.
      const to = { epoch: m.epoch, offset: m.offset - 1 };
      this.sink.unrecovered('epoch_changed', this.pos, to);
      this.moveTo(to);
    }
    if (m.offset <= this.pos.offset) return;
    if (m.offset === this.pos.offset + 1) {
      this.held.delete(m.offset);
      this.advance(m, replayed);
      this.drain();
      return;
    }
    if (this.skipped.has(m.offset)) return;
    this.hold(m, replayed);
    if (this.mode === 'live' && this.held.size > 0) this.startFill();
  }

  private hold(m: Envelope, replayed: boolean): void {
    if (this.pos && m.offset <= this.pos.offset) return;
    this.held.set(m.offset, { m, replayed });
    if (this.held.size <= this.maxHeld || !this.pos || this.mode === 'joining') return;
    const next = this.oldestHeld();
    if (!next) return;
    const to = { epoch: next.epoch, offset: next.offset - 1 };
    this.sink.unrecovered('history_trimmed', this.pos, to);
    this.pos = to;
    if (this.mode === 'filling') {
      this.fillId++; // its answer is ignored
      this.mode = 'live';
    }
    this.drain();
  }

  /**
   * Sets the position. Into another epoch, what is held or passed over by offset belongs to the old
   * one (an offset of one epoch names nothing in another) and is dropped.
   */
  private moveTo(to: StreamPosition): void {
    if (this.pos && to.epoch !== this.pos.epoch) {
      for (const [offset, h] of this.held) if (h.m.epoch !== to.epoch) this.held.delete(offset);
      this.skipped.clear();
    }
    this.pos = to;
  }

  private advance(m: Envelope, replayed: boolean): void {
    this.pos = { epoch: m.epoch, offset: m.offset };
    if (!this.skipped.delete(m.offset)) this.sink.deliver(m, replayed);
  }

  private drain(): void {
    for (;;) {
      if (!this.pos) return;
      const offset = this.pos.offset + 1;
      if (this.skipped.delete(offset)) {
        this.held.delete(offset);
        this.pos = { epoch: this.pos.epoch, offset };
        continue;
      }
      const next = this.held.get(offset);
      if (!next) break;
      this.held.delete(offset);
      this.advance(next.m, next.replayed);
    }
    for (const offset of this.held.keys()) if (offset <= this.pos.offset) this.held.delete(offset);
    for (const offset of this.skipped) if (offset <= this.pos.offset) this.skipped.delete(offset);
  }

  private startFill(): void {
    if (!this.pos) return;
    this.mode = 'filling';
    this.fillEpoch = this.pos.epoch;
    this.sink.fill({ ...this.pos }, ++this.fillId);
  }

  private oldestHeld(): Envelope | undefined {
    let oldest: Envelope | undefined;
    for (const { m } of this.held.values()) if (!oldest || m.offset < oldest.offset) oldest = m;
    return oldest;
  }
}

function position(p: StreamPosition): StreamPosition {
  return { epoch: p.epoch, offset: p.offset };
}
