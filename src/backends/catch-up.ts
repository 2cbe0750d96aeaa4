import type { Namespace } from 'socket.io';
import type { Logger } from '../logger.js';
import type { Envelope, StreamPosition } from '../protocol.js';
import type { Engine, HistoryPolicy } from '../rooms/engine.js';
import { messageChannel } from '../rooms/names.js';

/** What this node has delivered of one room. */
interface Mark {
  epoch: string;
  floor: number;
  seen: Set<number>;
  timer?: NodeJS.Timeout;
  filling: boolean;
  /** Read history on the next fill even with no gap seen (a tail may be missing). */
  force?: boolean;
  /** Epochs this room had here before (a late message of one is not tracked). */
  retired: string[];
}

interface Space {
  nsp: Namespace;
  adapter: ObservedAdapter;
  marks: Map<string, Mark>;
}

interface Packet {
  type?: number;
  data?: unknown;
}

interface ObservedAdapter {
  rooms: Map<string, Set<string>>;
  _encode(packet: Packet, packetOpts: unknown): unknown;
  on(event: 'delete-room', listener: (room: string) => void): unknown;
}

const EVENT_PACKET = 2;
const FILL_LIMIT = 500;
const RETRY_MS = 1000;
/** History as stored, with no age filter: a fill wants whatever is still there. */
const AS_STORED: HistoryPolicy = { size: 1, ttlMs: 0 };

/**
 * Makes live delivery on this node complete, from history, when pub/sub lost messages: while a
 * node's subscriber was away (Redis restarted and the node resubscribed a little after the others
 * published again), or when a publish got its offset but its SPUBLISH failed.
 *
 * Per room with members here it keeps a mark: `floor` (every offset up to it was delivered here or
 * predates the members' joins) and `seen` (offsets above it delivered out of order). A gap that
 * stays open for `graceMs` (messages of concurrent publishers on other nodes may simply arrive out
 * of order) is filled from history, and so is everything after `floor` once the node has
 * resubscribed. Filled messages are emitted to this node's members only, so clients may see one
 * twice or out of order; they drop duplicates by offset. Deliveries are observed on the adapter's
 * `_encode`, the one method both Redis adapters call for local and remote broadcasts alike.
 *
 * @example
 * const catchUp = new CatchUp(engine, log);
 * catchUp.attach(nsp, adapter);       // in the adapter factory
 * catchUp.seed('/', 'chat:1', joinHistory); // after a join's history read
 * await catchUp.afterResubscribe();   // when the subscriber is back
 */
export class CatchUp {
  private readonly spaces = new Map<string, Space>();

  constructor(
    private readonly engine: Engine,
    private readonly log: Logger,
    private readonly graceMs = 250,
  ) {}

  /** Starts observing one namespace's adapter (call from the adapter factory). */
  attach(nsp: Namespace, adapter: object): void {
    const observed = adapter as ObservedAdapter;
    const space: Space = { nsp, adapter: observed, marks: new Map() };
    this.spaces.set(nsp.name, space);
    const encode = observed._encode.bind(observed);
    observed._encode = (packet, packetOpts) => {
      this.observe(space, packet);
      return encode(packet, packetOpts);
    };
    observed.on('delete-room', (channel) => {
      if (!channel.startsWith('#') || channel.startsWith('#p#')) return;
      clearTimeout(space.marks.get(channel.slice(1))?.timer);
      space.marks.delete(channel.slice(1));
    });
  }

  /** A history read for a room with members here: nothing after `position` may go missing. */
  seed(ns: string, room: string, position: StreamPosition): void {
    const space = this.spaces.get(ns);
    if (!space?.adapter.rooms.has(messageChannel(room))) return;
    const mark = space.marks.get(room);
    if (!mark) space.marks.set(room, newMark(position.epoch, position.offset));
    else if (mark.epoch === position.epoch && position.offset < mark.floor) mark.floor = position.offset;
  }

  /** After a resubscription: fill every room from history, whatever arrived or not, a few at a time. */
  async afterResubscribe(): Promise<void> {
    const todo: Array<() => Promise<void>> = [];
    for (const space of this.spaces.values()) {
      for (const [room, mark] of space.marks) todo.push(() => this.fill(space, room, mark, true));
    }
    const worker = async () => {
      for (let job = todo.shift(); job; job = todo.shift()) await job();
    };
    await Promise.all(Array.from({ length: 8 }, worker));
  }

  /** Stops every pending fill timer. */
  close(): void {
    for (const space of this.spaces.values())
      for (const mark of space.marks.values()) clearTimeout(mark.timer);
  }

  private observe(space: Space, packet: Packet): void {
    if (packet.type !== EVENT_PACKET || !Array.isArray(packet.data) || packet.data[0] !== 'message') return;
    const env = packet.data[1] as Partial<Envelope> | undefined;
    if (typeof env?.room !== 'string' || typeof env.offset !== 'number' || typeof env.epoch !== 'string')
      return;
    this.delivered(space, env.room, env.epoch, env.offset);
  }

  private delivered(space: Space, room: string, epoch: string, offset: number): void {
    let mark = space.marks.get(room);
    if (mark?.retired.includes(epoch)) return;
    if (!mark || mark.epoch !== epoch) {
      // A room new here starts at this message; a new epoch (Redis lost its data) from its start.
      if (mark) clearTimeout(mark.timer);
      const next = newMark(epoch, mark ? 0 : offset - 1);
      if (mark) next.retired = [mark.epoch, ...mark.retired].slice(0, 4);
      mark = next;
      space.marks.set(room, mark);
    }
    if (offset <= mark.floor) return;
    mark.seen.add(offset);
    advance(mark);
    if (mark.seen.size > 0) this.schedule(space, room, mark, this.graceMs);
  }

  private schedule(space: Space, room: string, mark: Mark, ms: number): void {
    if (mark.timer || mark.filling) return;
    mark.timer = setTimeout(() => {
      mark.timer = undefined;
      void this.fill(space, room, mark, false);
    }, ms);
    mark.timer.unref();
  }

  private async fill(space: Space, room: string, mark: Mark, force: boolean): Promise<void> {
    if (space.marks.get(room) !== mark || mark.filling) return;
    if (!force && !mark.force && mark.seen.size === 0) return;
    mark.filling = true;
    mark.force = false;
    let next: number | undefined;
    try {
      next = await this.fillOnce(space, room, mark);
    } catch (err) {
      this.log.debug({ err, room }, 'catch-up: history read failed; will retry');
      next = RETRY_MS;
      mark.force ||= force;
    } finally {
      mark.filling = false;
    }
    if (space.marks.get(room) !== mark) return;
    if (next !== undefined) this.schedule(space, room, mark, next);
    else if (mark.seen.size > 0) this.schedule(space, room, mark, this.graceMs);
  }

  /** One history read; returns a delay when another read is due at once (more, or a new epoch). */
  private async fillOnce(space: Space, room: string, mark: Mark): Promise<number | undefined> {
    const since = { offset: mark.floor, epoch: mark.epoch };
    const res = await this.engine.history(space.nsp.name, room, { since, limit: FILL_LIMIT }, AS_STORED);
    if (space.marks.get(room) !== mark) return undefined;
    if (res.epoch !== mark.epoch) {
      // History restarted: everything of the new epoch is new here.
      mark.retired = [mark.epoch, ...mark.retired].slice(0, 4);
      mark.epoch = res.epoch;
      mark.floor = 0;
      mark.seen.clear();
      mark.force = true;
      return 0;
    }
    let emitted = 0;
    for (const m of res.messages) {
      if (m.offset <= mark.floor || mark.seen.has(m.offset)) continue;
      space.nsp.local.to(messageChannel(room)).emit('message', m);
      emitted++;
    }
    if (!res.recovered) skipTo(mark, (res.messages[0]?.offset ?? res.offset + 1) - 1);
    if (emitted > 0)
      this.log.info({ ns: space.nsp.name, room, emitted }, 'catch-up: delivered missed messages');
    if (res.messages.length < FILL_LIMIT) return undefined;
    mark.force = true;
    return 0;
  }
}

function newMark(epoch: string, floor: number): Mark {
  return { epoch, floor, seen: new Set(), filling: false, retired: [] };
}

/** Moves `floor` over every offset seen right after it. */
function advance(mark: Mark): void {
  while (mark.seen.delete(mark.floor + 1)) mark.floor++;
}

/** History no longer reaches back past `offset`: what is older is gone for good. */
function skipTo(mark: Mark, offset: number): void {
  if (offset <= mark.floor) return;
  mark.floor = offset;
  for (const o of mark.seen) if (o <= offset) mark.seen.delete(o);
  advance(mark);
}
