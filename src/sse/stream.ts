import type { ServerResponse } from 'node:http';
import type { Receiver } from '../hub/streams.js';
import type { ClosingCode, Envelope, JoinReply, StreamPosition } from '../protocol.js';
import type { Client } from '../rooms/manager-types.js';
import { encodePosition } from './id.js';

/** A stream's buffer may grow this large for a slow reader before the stream is ended (it resumes). */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
/** The replay is written while less than this waits to be sent, then again once the buffer drains. */
const REPLAY_CHUNK_BYTES = 1024 * 1024;
const RETRY_MS = 2000;

/**
 * One SSE subscriber: a `Client` (id `sse:<uuid>`) that the room manager joined to its rooms.
 * Messages that arrive while the joins are still running are buffered; `start` then writes the
 * replayed history and the buffer, dropping anything at or below a room's known offset, so a
 * resume with `Last-Event-ID` has no gap and no duplicate. Every event's `id` carries the
 * position of every room of the stream.
 *
 * @example
 * const stream = new SseStream('/', client, ['chat:1'], since);
 * hub.add(stream);                       // receives (and buffers) from now on
 * stream.start(reply.raw, joinReplies, headers);
 */
export class SseStream implements Receiver {
  readonly rooms: readonly string[];
  private readonly positions = new Map<string, StreamPosition>();
  private readonly idParts = new Map<string, string>();
  private pending: Array<[Envelope, string]> | null = [];
  /** Bytes of `pending`: what arrives while a slow reader takes its replay is bounded too. */
  private pendingBytes = 0;
  private replay: Envelope[] = [];
  private replayed = 0;
  private res: ServerResponse | null = null;
  private closed = false;
  private readonly closeListeners: Array<() => void> = [];

  constructor(
    readonly ns: string,
    readonly client: Client,
    rooms: readonly string[],
    since: ReadonlyMap<string, StreamPosition>,
    /** The token's fingerprint, for revocation. */
    readonly tokenHash?: string,
  ) {
    this.rooms = rooms;
    for (const room of rooms) {
      const pos = since.get(room);
      if (pos) this.setPosition(room, pos);
    }
  }

  /** Where `Last-Event-ID` left `room`, to join it with `since`. */
  resumeFrom(room: string): StreamPosition | undefined {
    return this.positions.get(room);
  }

  get id(): string {
    return this.client.id;
  }

  get sub(): string {
    return this.client.sub;
  }

  /** A message of one of the stream's rooms; `json` is the envelope, serialised once per broadcast. */
  receive(envelope: Envelope, json: string): void {
    if (this.closed) return;
    if (!this.pending) {
      this.send(envelope, json);
      return;
    }
    this.pending.push([envelope, json]);
    this.pendingBytes += json.length;
    // A reader that has not taken its replay by now resumes from history instead.
    if (this.pendingBytes > MAX_BUFFERED_BYTES) this.abort();
  }

  /**
   * Begins the response: headers, the position of every room, a `roomcast:gap` event for rooms
   * whose history no longer reaches back to `Last-Event-ID`, the replay, then what arrived meanwhile.
   */
  start(res: ServerResponse, joins: readonly JoinReply[], headers: Record<string, string>): void {
    if (this.closed) return;
    this.res = res;
    res.writeHead(200, headers);
    res.on('close', () => this.close());
    const gaps: Array<StreamPosition & { room: string }> = [];
    for (const j of joins) {
      const asked = this.positions.has(j.room);
      const last = j.messages[j.messages.length - 1];
      const complete = j.recovered && (last === undefined || last.offset >= j.offset);
      // Where the stream goes on in this room: just before the first message it sends.
      const from = (j.messages[0]?.offset ?? j.offset + 1) - 1;
      // Not recovered (fresh join, other epoch, history too short): start just before what we have.
      if (!j.recovered) this.setPosition(j.room, { epoch: j.epoch, offset: from });
      // The gap says where what follows continues from, as the position does.
      if (asked && !complete) gaps.push({ room: j.room, offset: from, epoch: j.epoch });
    }
    // An id with no data: EventSource records it as the last event id and dispatches nothing, so a
    // client that reconnects before its first message still resumes every room from here.
    this.write(`retry: ${RETRY_MS}\nid: ${this.eventId()}\n\n`);
    if (gaps.length) this.write(`event: roomcast:gap\ndata: ${JSON.stringify({ rooms: gaps })}\n\n`);
    this.replay = mergeByTime(joins.map((j) => j.messages));
    this.pump();
  }

  /**
   * Writes the replay while the response takes it, pausing until `drain` whenever a chunk's worth
   * waits (a replay of many megabytes would pass `MAX_BUFFERED_BYTES` in one go, and end the
   * stream before the reader had any of it), then what arrived meanwhile.
   */
  private pump(): void {
    const res = this.res;
    if (!res) return;
    while (this.replayed < this.replay.length) {
      if (this.closed) return;
      const m = this.replay[this.replayed++]!;
      this.send(m, JSON.stringify(m));
      if (res.writableLength >= REPLAY_CHUNK_BYTES && this.replayed < this.replay.length) {
        res.once('drain', () => this.pump());
        return;
      }
    }
    this.replay = [];
    const buffered = this.pending ?? [];
    this.pending = null;
    this.pendingBytes = 0;
    for (const [envelope, json] of buffered) this.send(envelope, json);
  }

  /** A comment line, so proxies see traffic on an idle stream. */
  heartbeat(): void {
    if (this.res && !this.closed) this.write(': ping\n\n');
  }

  /** Ends the stream, first telling the client why when `code` is given. Idempotent. */
  close(code?: ClosingCode, message?: string): void {
    if (this.closed) return;
    const res = this.res;
    if (res && !res.writableEnded) {
      if (code)
        res.write(`event: roomcast:closing\ndata: ${JSON.stringify({ code, message: message ?? code })}\n\n`);
      res.end();
    }
    this.finish();
  }

  onClose(listener: () => void): void {
    if (this.closed) listener();
    else this.closeListeners.push(listener);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private send(envelope: Envelope, json: string): void {
    if (!this.isNewer(envelope.room, envelope)) return;
    this.setPosition(envelope.room, envelope);
    const event = envelope.event.replace(/[\r\n]/g, ' ');
    this.write(`id: ${this.eventId()}\nevent: ${event}\ndata: ${json}\n\n`);
  }

  /** False for a message at or below the room's known offset in the same epoch (a duplicate). */
  private isNewer(room: string, pos: StreamPosition): boolean {
    const known = this.positions.get(room);
    return !known || known.epoch !== pos.epoch || pos.offset > known.offset;
  }

  private setPosition(room: string, pos: StreamPosition): void {
    this.positions.set(room, { offset: pos.offset, epoch: pos.epoch });
    this.idParts.set(room, encodePosition(room, pos));
  }

  private eventId(): string {
    return [...this.idParts.values()].join(',');
  }

  private write(chunk: string): void {
    const res = this.res;
    if (!res || res.writableEnded) return;
    res.write(chunk);
    // A reader this far behind resumes from history rather than holding the node's memory.
    if (res.writableLength > MAX_BUFFERED_BYTES) this.abort();
  }

  /** Ends the stream without a goodbye: the reader is too far behind to take one. */
  private abort(): void {
    this.res?.destroy();
    this.replay = [];
    this.pending = null;
    this.finish();
  }

  private finish(): void {
    this.closed = true;
    for (const listener of this.closeListeners.splice(0)) listener();
  }
}

/** Interleaves the rooms' replays by publish time, keeping each room's own order. */
function mergeByTime(lists: ReadonlyArray<readonly Envelope[]>): Envelope[] {
  const heads = lists.map(() => 0);
  const out: Envelope[] = [];
  for (;;) {
    let pick = -1;
    for (let i = 0; i < lists.length; i++) {
      const m = lists[i]![heads[i]!];
      if (m && (pick < 0 || m.ts < lists[pick]![heads[pick]!]!.ts)) pick = i;
    }
    if (pick < 0) return out;
    out.push(lists[pick]![heads[pick]!++]!);
  }
}
