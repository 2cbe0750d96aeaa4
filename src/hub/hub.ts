import type { Logger } from '../logger.js';
import type { Envelope, PresenceEvent } from '../protocol.js';
import type { DeliverySink, Engine, HistoryPolicy } from '../rooms/engine.js';
import type { Client, Transport } from '../rooms/manager-types.js';
import type { MaybePromise } from '../rooms/maybe.js';
import { messageChannel, presenceChannel } from '../rooms/names.js';
import { payloadSize } from '../rooms/payload.js';
import { DeliveryMarks, NEXT } from './marks.js';
import { Receivers } from './streams.js';

/** The Socket.IO side of one namespace on this node, as the hub uses it (socket/ implements it). */
export interface LocalSockets {
  /** Puts a connected socket into Socket.IO rooms; nothing when it is gone. */
  join(id: string, channels: string[]): void;
  leave(id: string, channel: string): void;
  /** Emits to the sockets of this node in `channel`, `except` one. */
  emit(
    channel: string,
    event: 'message' | 'presence',
    payload: Envelope | PresenceEvent,
    except?: string,
  ): void;
}

/** What the hub asks of a namespace's room rules. */
export interface RoomRules {
  presenceOn(room: string): boolean;
  historyPolicy(room: string): HistoryPolicy;
}

export interface HubOptions {
  log: Logger;
}

/**
 * Called once per message delivered on this node, with the Socket.IO channel its sockets were
 * reached through and how many non-socket receivers got it.
 */
export type DeliveryListener = (
  ns: string,
  envelope: Envelope,
  channel: string,
  exceptConnId: string | undefined,
  receivers: number,
) => void;

interface Space {
  ns: string;
  sockets: LocalSockets;
  rules: RoomRules;
  /** Connections (sockets and receivers) of this node per room. */
  interest: Map<string, number>;
  /** The Socket.IO channel names of each room in `interest`, made once per room (see `channelsOf`). */
  channels: Map<string, Channels>;
  /** Rooms the engine delivers here (`WATCHED`), or will once the promise resolves. */
  watching: Map<string, Promise<void> | typeof WATCHED>;
  marks: DeliveryMarks<Envelope>;
  /** Who published a message held past a gap without echo (rare: kept only while it is held). */
  excepts: WeakMap<Envelope, string>;
  /** Rooms with a fill in flight, and those asked to fill again once it ends. */
  filling: Set<string>;
  again: Set<string>;
  /** Rooms whose fill in flight read for connections that have all left here since. */
  stale: Set<string>;
}

interface Channels {
  message: string;
  presence: string;
}

/** About what an envelope holds besides its data (its other fields, the object, the map entry). */
const ENVELOPE_BYTES = 256;

/**
 * What a message held behind a gap keeps alive, for the marks' byte budget: its data as the
 * `payloadBytes` limit counts it, and the rest of the envelope. Asked only of held messages.
 */
function heldSize(envelope: Envelope): number {
  try {
    return payloadSize(envelope.data) + ENVELOPE_BYTES;
  } catch {
    // Data another node let through that this one would refuse: counted as its envelope alone.
    return ENVELOPE_BYTES;
  }
}

const WATCHED = true;
const FILL_LIMIT = 500;
const FILL_ROUNDS = 100;
const FILL_RETRY_MS = 1000;
const FILL_WORKERS = 8;

/** How many messages published without echo a node remembers until their delivery (`leftOut`). */
const MAX_LEFT_OUT = 100_000;

/**
 * The node's one local delivery point. Everything that reaches this node, published here or on
 * another node, arrives through the engine at `message` or `presence`, and goes from here to the
 * room's Socket.IO sockets, its other receivers (SSE streams), and metrics. A new transport is one
 * more receiver (streams.ts).
 *
 * The hub also decides what this node receives: a room is watched while at least one connection
 * here has joined it (`Transport.join` resolves once the engine delivers it), and unwatched when
 * the last one leaves. And it keeps live delivery whole and single: every message goes through
 * {@link DeliveryMarks}, so no connection gets one offset twice within an epoch, and offsets that
 * went missing (the node's subscriptions were down) are filled from history.
 *
 * @example
 * const hub = new Hub({ log });
 * const backend = await createBackend(config, log, hub);
 * hub.attach(backend.engine);
 * const transport = hub.addNamespace('/', localSockets(nsp), rooms);
 */
export class Hub implements DeliverySink {
  readonly receivers = new Receivers();
  private engine: Engine | undefined;
  private readonly spaces = new Map<string, Space>();
  /**
   * Messages published from here without echo, by id, and the connection that must not get them,
   * until they are delivered here: a message that comes from history (a filled gap) carries no
   * exception of its own.
   */
  private readonly leftOut = new Map<string, string>();
  private readonly listeners: DeliveryListener[] = [];

  constructor(private readonly opts: HubOptions) {}

  /** The engine to watch rooms and read history through (it was built with this hub as its sink). */
  attach(engine: Engine): void {
    this.engine = engine;
  }

  /** Sees every delivery on this node (metrics). */
  onDelivered(listener: DeliveryListener): void {
    this.listeners.push(listener);
  }

  /** Serves one namespace; returns the transport its room manager subscribes connections with. */
  addNamespace(ns: string, sockets: LocalSockets, rules: RoomRules): Transport {
    const space: Space = {
      ns,
      sockets,
      rules,
      interest: new Map(),
      channels: new Map(),
      watching: new Map(),
      marks: new DeliveryMarks({ sizeOf: heldSize }),
      excepts: new WeakMap(),
      filling: new Set(),
      again: new Set(),
      stale: new Set(),
    };
    this.spaces.set(ns, space);
    return {
      join: (client, room, presence) => {
        if (!this.receivers.has(client.id)) {
          const ch = this.channelsOf(space, room);
          space.sockets.join(client.id, presence ? [ch.message, ch.presence] : [ch.message]);
        }
        return this.want(space, room);
      },
      leave: (client, room) => {
        if (!this.receivers.has(client.id)) {
          const ch = this.channelsOf(space, room);
          space.sockets.leave(client.id, ch.message);
          space.sockets.leave(client.id, ch.presence);
        }
        this.unwant(space, room);
      },
      setPresence: (client: Client, room, on) => {
        if (this.receivers.has(client.id)) return;
        const ch = this.channelsOf(space, room);
        if (on) space.sockets.join(client.id, [ch.presence]);
        else space.sockets.leave(client.id, ch.presence);
      },
      readUpTo: (room, position) => space.marks.seed(room, position),
      forgetLeftOut: (messageId) => void this.leftOut.delete(messageId),
      leaveOut: (messageId, connId) => {
        this.leftOut.set(messageId, connId);
        // Bounded: a message this node never gets (its room left meanwhile) is forgotten in turn.
        if (this.leftOut.size > MAX_LEFT_OUT) this.leftOut.delete(this.leftOut.keys().next().value as string);
      },
    };
  }

  message(ns: string, envelope: Envelope, exceptConnId: string | undefined): void {
    const space = this.spaces.get(ns);
    if (!space?.interest.has(envelope.room)) return;
    this.deliver(space, envelope, exceptConnId);
    if (space.marks.hasGap(envelope.room)) void this.fill(space, envelope.room);
  }

  presence(ns: string, event: PresenceEvent, exceptConnId: string | undefined): void {
    const space = this.spaces.get(ns);
    if (!space?.interest.has(event.room) || !space.rules.presenceOn(event.room)) return;
    space.sockets.emit(this.channelsOf(space, event.room).presence, 'presence', event, exceptConnId);
  }

  /** Delivery may have missed messages: check every room served here against history. */
  resync(): void {
    const todo: Array<() => Promise<void>> = [];
    for (const space of this.spaces.values())
      for (const room of space.interest.keys()) todo.push(() => this.fill(space, room));
    const worker = async () => {
      for (let job = todo.shift(); job; job = todo.shift()) await job();
    };
    this.opts.log.info({ rooms: todo.length }, 'delivery resumed; checking history for missed messages');
    void Promise.all(Array.from({ length: FILL_WORKERS }, worker));
  }

  /** Rooms with at least one connection here, in a namespace. */
  roomCount(ns: string): number {
    return this.spaces.get(ns)?.interest.size ?? 0;
  }

  /** Hands a message to the room's marks, and delivers what they let go now (in offset order). */
  private deliver(space: Space, envelope: Envelope, exceptConnId: string | undefined): void {
    if (this.leftOut.size > 0) {
      const publisher = this.leftOut.get(envelope.id);
      if (publisher !== undefined) {
        this.leftOut.delete(envelope.id);
        exceptConnId ??= publisher;
      }
    }
    const now = space.marks.receive(envelope.room, envelope.epoch, envelope.offset, envelope);
    if (now === NEXT) {
      this.send(space, envelope, exceptConnId);
      return;
    }
    if (exceptConnId !== undefined) space.excepts.set(envelope, exceptConnId);
    this.sendAll(space, envelope.room, now);
  }

  /** Delivers the held messages of `room` that a fill has let go. */
  private release(space: Space, room: string): void {
    this.sendAll(space, room, space.marks.release(room));
  }

  private sendAll(space: Space, room: string, envelopes: Envelope[]): void {
    for (const m of envelopes) {
      // A delivery can close the room's last connection here (a stalled reader over its limit).
      if (!space.interest.has(room)) return;
      this.send(space, m, space.excepts.get(m));
    }
  }

  private send(space: Space, envelope: Envelope, exceptConnId: string | undefined): void {
    const channel = this.channelsOf(space, envelope.room).message;
    space.sockets.emit(channel, 'message', envelope, exceptConnId);
    const receivers = this.receivers.deliver(space.ns, envelope);
    for (const listener of this.listeners) listener(space.ns, envelope, channel, exceptConnId, receivers);
  }

  /**
   * A room's channel names, kept while the room has connections here: every socket in the room
   * holds the same two strings (Socket.IO keeps each socket's rooms in a set of its own), not a
   * copy each, which saved about 60 bytes per idle connection.
   */
  private channelsOf(space: Space, room: string): Channels {
    let ch = space.channels.get(room);
    if (!ch) {
      ch = { message: messageChannel(room), presence: presenceChannel(room) };
      space.channels.set(room, ch);
    }
    return ch;
  }

  /**
   * One more connection here in `room`: resolves once the engine delivers the room here (at once,
   * with nothing to wait for, when the engine watched it at once or the room is watched already).
   */
  private want(space: Space, room: string): MaybePromise<void> {
    space.interest.set(room, (space.interest.get(room) ?? 0) + 1);
    const watching = space.watching.get(room);
    if (watching !== undefined) return watching === WATCHED ? undefined : watching;
    const watched = this.need().watch(space.ns, room);
    if (!(watched instanceof Promise)) {
      space.watching.set(room, WATCHED);
      return;
    }
    // A failed watch is not kept: the next join of the room tries again.
    watched.then(
      () => {
        if (space.watching.get(room) === watched) space.watching.set(room, WATCHED);
      },
      () => {
        if (space.watching.get(room) === watched) space.watching.delete(room);
      },
    );
    space.watching.set(room, watched);
    return watched;
  }

  private unwant(space: Space, room: string): void {
    const n = (space.interest.get(room) ?? 0) - 1;
    if (n > 0) {
      space.interest.set(room, n);
      return;
    }
    space.interest.delete(room);
    space.channels.delete(room);
    space.watching.delete(room);
    space.marks.forget(room);
    space.again.delete(room);
    if (space.filling.has(room)) space.stale.add(room);
    this.engine?.unwatch(space.ns, room);
  }

  /** Reads history after what was delivered here and delivers what is missing, in order. */
  private async fill(space: Space, room: string): Promise<void> {
    if (space.filling.has(room)) {
      space.again.add(room);
      return;
    }
    space.filling.add(room);
    try {
      for (let round = 0; round < FILL_ROUNDS; round++) {
        const since = space.marks.fillFrom(room);
        if (!since || !space.interest.has(room)) break;
        const res = await this.need().history(
          space.ns,
          room,
          { since, limit: FILL_LIMIT },
          space.rules.historyPolicy(room),
        );
        // The room emptied here while the read was out: it read for marks that are gone. A join
        // since has marks of its own, from its own read (what this one found is before it).
        if (space.stale.delete(room)) {
          // Its own gap, or a check asked for since (`resync`, a message during the read).
          if (space.marks.hasGap(room) || space.again.delete(room)) continue;
          break;
        }
        if (!space.interest.has(room)) break;
        const again = space.marks.filled(room, since, res, res.recovered, res.messages[0]?.offset);
        this.release(space, room);
        if (again) continue;
        for (const m of res.messages) {
          // A delivery can close the room's last connection here (a stalled reader over its
          // limit): the rest of the page then has nobody to go to, and the room's state is gone.
          if (!space.interest.has(room)) break;
          this.deliver(space, m, undefined);
        }
        const last = res.messages[res.messages.length - 1];
        // History goes on past this page (a full page, or one the engine cut: expired messages).
        const beyond = last !== undefined && last.offset < res.offset;
        if (space.again.delete(room) || beyond) continue;
        // History had all it holds after the floor, read after every held message arrived (one
        // that arrived during the read asked `again`): what is still missing below them is gone.
        if (space.marks.hasGap(room)) {
          space.marks.giveUp(room);
          this.release(space, room);
        }
        return;
      }
      // Out of rounds with history still going on: carry on later, so nothing waits for a publish.
      if (space.marks.hasGap(room)) setTimeout(() => void this.fill(space, room), FILL_RETRY_MS).unref();
    } catch (err) {
      this.opts.log.debug({ err, room }, 'filling from history failed; will retry');
      setTimeout(() => void this.fill(space, room), FILL_RETRY_MS).unref();
    } finally {
      space.filling.delete(room);
      space.stale.delete(room);
    }
  }

  private need(): Engine {
    if (!this.engine) throw new Error('Hub.attach(engine) was not called');
    return this.engine;
  }
}
