import type { Envelope, StreamPosition } from '../protocol.js';
import type { Draft, HistoryQuery, HistoryResult } from '../rooms/engine.js';

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
 * @example
 * const h = new RoomHistory();
 * h.push(draft, JSON.stringify(draft.data), 100);
 * h.select('chat', { offset: 1, epoch: 'e1' }, { limit: 100 }); // { messages: [envelope at 1], ... }
 */
export class RoomHistory {
  private rows: Row[] = [];
  private ts: number[] = [];
  private froms: Envelope['from'][] = [];

  get length(): number {
    return this.rows.length;
  }

  /**
   * Appends the room's newest message; `json` is its payload as JSON, or undefined to keep the
   * data as it is (binary parts). At most `size` are kept: past it the oldest leaves (V8 shifts an
   * array in place; trimming in batches kept up to twice as many for the GC to trace).
   */
  push(draft: Draft, json: string | undefined, size: number): void {
    const { id, event } = draft;
    const row =
      json === undefined || id.length > MAX_PART || event.length > MAX_PART
        ? { id, event, data: json === undefined ? draft.data : JSON.parse(json) }
        : // `join`, not `+`: one flat string, where `+` leaves a tree of its parts (V8's cons
          // strings, an object per part) until something flattens it.
          [String.fromCharCode(id.length), id, String.fromCharCode(event.length), event, json].join('');
    this.rows.push(row);
    this.ts.push(draft.ts);
    this.froms.push(draft.from);
    while (this.rows.length > size) {
      this.rows.shift();
      this.ts.shift();
      this.froms.shift();
    }
  }

  /** Drops the oldest messages past `size`, and those published before `cutoff` (ms since epoch). */
  trim(size: number, cutoff: number): void {
    let drop = Math.max(0, this.rows.length - size);
    while (drop < this.ts.length && this.ts[drop]! < cutoff) drop++;
    if (drop === 0) return;
    this.rows = this.rows.slice(drop);
    this.ts = this.ts.slice(drop);
    this.froms = this.froms.slice(drop);
  }

  /**
   * What a history query returns, the room standing at `position` (its newest message is at
   * `position.offset`). The same answers as `selectHistory` over the stored envelopes.
   */
  select(room: string, position: StreamPosition, query: HistoryQuery): HistoryResult {
    const { since, limit } = query;
    const { offset, epoch } = position;
    const count = this.rows.length;
    const first = offset - count + 1;
    if (!since) {
      return {
        offset,
        epoch,
        messages: this.envelopes(room, position, Math.max(0, count - limit), count),
        recovered: true,
      };
    }
    // `{ offset: 0, epoch: '' }`, the position of a room read before it had any state, is the start
    // of whatever epoch the room has now.
    const from = since.epoch === '' && since.offset === 0 ? epoch : since.epoch;
    if (from !== epoch || since.offset > offset) return { offset, epoch, messages: [], recovered: false };
    const start = Math.min(count, Math.max(0, since.offset + 1 - first));
    const oldest = start < count ? first + start : offset + 1;
    const end = Math.min(count, start + Math.max(0, limit));
    return {
      offset,
      epoch,
      messages: this.envelopes(room, position, start, end),
      recovered: oldest === since.offset + 1,
    };
  }

  private envelopes(room: string, position: StreamPosition, start: number, end: number): Envelope[] {
    const first = position.offset - this.rows.length + 1;
    const out: Envelope[] = [];
    for (let i = start; i < end; i++) out.push(this.envelope(i, room, first + i, position.epoch));
    return out;
  }

  private envelope(i: number, room: string, offset: number, epoch: string): Envelope {
    const row = this.rows[i]!;
    const ts = this.ts[i]!;
    const from = this.froms[i]!;
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
