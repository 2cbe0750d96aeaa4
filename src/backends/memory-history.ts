import type { Envelope, StreamPosition } from '../protocol.js';
import { type Draft, type HistoryQuery, type HistoryResult, historyWindow } from '../rooms/engine.js';

/**
 * A stored message's id, event and payload as one string: the id's length as one character, the
 * id, the event's length as one character, the event, then the payload's JSON. One flat string is
 * a leaf the GC marks without looking inside; the object per message this replaced (with its id
 * string, its JSON and a boxed timestamp) cost about 445 bytes and 4 objects to trace, this about
 * 250 bytes and 1 (1,000 rooms × 100 messages in a loop: 25 against 45 MB of heap, a full GC 6
 * against 34–42 ms). A payload with binary parts (Socket.IO attachments) does not survive JSON:
 * its row is an object that keeps the data as it is.
 */
type Row = string | { readonly id: string; readonly event: string; readonly data: unknown };

/** Longest id or event a string row can hold (its length is one UTF-16 code unit). */
const MAX_PART = 0xffff;

/**
 * One room's history in the memory engine, oldest first, in columns: the rows, their timestamps
 * (numbers only, so V8 keeps them unboxed in one array) and their authors (`from`: the publisher's
 * shared object, or null). Offsets are not stored: a room's history is consecutive and ends at
 * the room's offset, which the caller passes in.
 *
 * The columns are a ring (the oldest at `head`), grown by doubling up to the room's size: a full
 * history takes a new message in place of its oldest, where shifting three arrays left-trimmed
 * each of them once per publish.
 *
 * @example
 * const h = new RoomHistory();
 * h.push(draft, JSON.stringify(draft.data), 100);
 * h.select('chat', { offset: 1, epoch: 'e1' }, { limit: 100 }); // { messages: [envelope at 1], ... }
 */
export class RoomHistory {
  private rows: Array<Row | undefined> = [];
  private ts: number[] = [];
  private froms: Envelope['from'][] = [];
  private head = 0;
  private count = 0;

  get length(): number {
    return this.count;
  }

  /**
   * Appends the room's newest message; `json` is its payload as JSON, or undefined to keep the
   * data as it is (binary parts). At most `size` (at least 1) are kept: past it the oldest leaves.
   */
  push(draft: Draft, json: string | undefined, size: number): void {
    const { id, event } = draft;
    const row =
      json === undefined || id.length > MAX_PART || event.length > MAX_PART
        ? { id, event, data: json === undefined ? draft.data : JSON.parse(json) }
        : // `join`, not `+`: one flat string, where `+` leaves a tree of its parts (V8's cons
          // strings, an object per part) until something flattens it.
          [String.fromCharCode(id.length), id, String.fromCharCode(event.length), event, json].join('');
    const keep = Math.max(1, size);
    if (this.count >= keep) this.drop(this.count - keep + 1);
    if (this.count === this.rows.length) this.grow(Math.min(keep, Math.max(4, this.rows.length * 2)));
    const at = this.slot(this.count);
    this.rows[at] = row;
    this.ts[at] = draft.ts;
    this.froms[at] = draft.from;
    this.count++;
  }

  /** Drops the oldest messages past `size`, and those published before `cutoff` (ms since epoch). */
  trim(size: number, cutoff: number): void {
    let drop = Math.max(0, this.count - size);
    while (drop < this.count && this.ts[this.slot(drop)]! < cutoff) drop++;
    this.drop(drop);
  }

  /**
   * What a history query returns, the room standing at `position` (its newest message is at
   * `position.offset`), by the rule `selectHistory` applies to stored envelopes.
   */
  select(room: string, position: StreamPosition, query: HistoryQuery): HistoryResult {
    const first = position.offset - this.count + 1;
    const { start, end, recovered } = historyWindow(this.count, (i) => first + i, position, query);
    const messages = this.envelopes(room, position, start, end);
    return { offset: position.offset, epoch: position.epoch, messages, recovered };
  }

  private envelopes(room: string, position: StreamPosition, start: number, end: number): Envelope[] {
    const first = position.offset - this.count + 1;
    const out: Envelope[] = [];
    for (let i = start; i < end; i++) out.push(this.envelope(i, room, first + i, position.epoch));
    return out;
  }

  /** The ring's slot of the `i`th message, oldest first. */
  private slot(i: number): number {
    const at = this.head + i;
    return at < this.rows.length ? at : at - this.rows.length;
  }

  /** The `n` oldest leave; an emptied history lets its columns go (an idle room keeps none). */
  private drop(n: number): void {
    if (n <= 0) return;
    if (n >= this.count) {
      this.rows = [];
      this.ts = [];
      this.froms = [];
      this.head = 0;
      this.count = 0;
      return;
    }
    for (let i = 0; i < n; i++) {
      const at = this.slot(i);
      this.rows[at] = undefined;
      this.froms[at] = null;
    }
    this.head = this.slot(n);
    this.count -= n;
  }

  /** Copies the messages into columns of `capacity` slots, the oldest at 0. */
  private grow(capacity: number): void {
    const rows: Array<Row | undefined> = [];
    const ts: number[] = [];
    const froms: Envelope['from'][] = [];
    for (let i = 0; i < capacity; i++) {
      const at = i < this.count ? this.slot(i) : -1;
      rows.push(at < 0 ? undefined : this.rows[at]);
      ts.push(at < 0 ? 0 : this.ts[at]!);
      froms.push(at < 0 ? null : this.froms[at]!);
    }
    this.rows = rows;
    this.ts = ts;
    this.froms = froms;
    this.head = 0;
  }

  private envelope(i: number, room: string, offset: number, epoch: string): Envelope {
    const at = this.slot(i);
    const row = this.rows[at]!;
    const ts = this.ts[at]!;
    const from = this.froms[at]!;
    if (typeof row !== 'string') {
      return { id: row.id, room, event: row.event, data: row.data, ts, from, offset, epoch };
    }
    const idEnd = 1 + row.charCodeAt(0);
    const eventEnd = idEnd + 1 + row.charCodeAt(idEnd);
    const id = row.slice(1, idEnd);
    const event = row.slice(idEnd + 1, eventEnd);
    return { id, room, event, data: JSON.parse(row.slice(eventEnd)), ts, from, offset, epoch };
  }
}
