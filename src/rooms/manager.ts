import { RoomcastError } from '../errors.js';
import type { HistoryReply, JoinReply, Member, PresenceEvent, StreamPosition } from '../protocol.js';
import type { Draft, Engine, HistoryPolicy, HistoryResult, Published, PublishOpts } from './engine.js';
import { firstJoinOf, joinReply, stillJoining, trackFirstJoin } from './joining.js';
import type {
  Client,
  PublishInput,
  PublishOptions,
  PublishResult,
  RoomObserver,
  RoomPolicy,
  Transport,
} from './manager-types.js';
import { andThen, attempt, type MaybePromise } from './maybe.js';
import { MessageIds } from './message-id.js';
import { checkEventName, parseRoomName, SOCKET_IO_RESERVED } from './names.js';
import { compilePattern, matchesAny } from './patterns.js';
import { inspectPayload, type PayloadInfo } from './payload.js';
import { can, type Rights } from './rights.js';

const NO_HISTORY: HistoryPolicy = { size: 0, ttlMs: 0 };

/** The `from` of a client's messages, made once per client and again only when its `info` changes. */
const authors = new WeakMap<Client, { sub: string; info: unknown }>();

function authorOf(client: Client): { sub: string; info: unknown } {
  const author = authors.get(client);
  if (author && author.info === client.info) return author;
  const made = { sub: client.sub, info: client.info };
  authors.set(client, made);
  return made;
}

/**
 * The room manager of one namespace: every join, leave, publish, presence and history request,
 * from a socket or the HTTP API, goes through here. It checks names, rights and limits, and then
 * asks the engine (offsets, history, membership) and the transport (delivery).
 *
 * @example
 * const rooms = new RoomManager(nsConfig, engine, transport);
 * const { offset } = await rooms.publish(client, { room: 'chat:1', event: 'msg', data: { text: 'hi' } });
 */
export class RoomManager {
  readonly ns: string;
  private readonly ids = new MessageIds();

  constructor(
    private readonly config: RoomPolicy,
    private readonly engine: Engine,
    private readonly transport: Transport,
    private readonly observer: RoomObserver = {},
    /** How long a publish's `idempotencyKey` is remembered (`api.idempotencyWindowMs`). */
    private readonly idempotencyWindowMs = 300_000,
  ) {
    this.ns = config.name;
  }

  /**
   * Joins a room (again: a join of a room already joined replays, and changes nothing). Not async:
   * on an engine that answers at once (memory) the reply is returned in this tick, and bad input
   * throws here; callers `await` it. `replayLimit` (default `limits.historyLimit`) bounds the
   * messages replayed after `since`: an SSE stream, which cannot page with `history`, asks more.
   */
  join(
    client: Client,
    room: unknown,
    since?: StreamPosition,
    replayLimit = this.config.limits.historyLimit,
  ): MaybePromise<JoinReply> {
    const name = this.roomName(room);
    this.require(client, 'subscribe', name);
    if (client.rooms.has(name)) {
      const again = () =>
        andThen(this.replay(name, since, replayLimit), (result) => joinReply(name, result, since));
      // A join of a room whose first join is still on its way answers after it, and as it: a
      // first join that fails is undone, and an `ok` given meanwhile would be for a room not joined.
      const first = firstJoinOf(client, name);
      return first ? first.then(again) : again();
    }
    if (client.rooms.size >= this.config.limits.roomsPerConnection) {
      throw new RoomcastError(
        'too_many_rooms',
        `at most ${this.config.limits.roomsPerConnection} rooms per connection`,
      );
    }
    // Subscribe before reading history, so nothing published in between is missed (the SDK drops duplicates).
    client.rooms.add(name);
    const joined = attempt(
      () =>
        andThen(this.subscribe(client, name), () =>
          andThen(this.replay(name, since, replayLimit), (result) => {
            stillJoining(client, name);
            this.transport.readUpTo(name, result);
            this.observer.joined?.(name, this.ns);
            return joinReply(name, result, since);
          }),
        ),
      // Undone as a whole: the connection is not left in a room it was told it could not join.
      (err) =>
        andThen(
          attempt(
            () => this.leave(client, name),
            () => undefined,
          ),
          () => {
            throw err;
          },
        ),
    );
    if (joined instanceof Promise) trackFirstJoin(client, name, joined);
    return joined;
  }

  /** A first join's membership: the node's subscription, the member, and its presence event. */
  private subscribe(client: Client, room: string): MaybePromise<void> {
    return andThen(this.transport.join(client, room, this.presenceVisible(client, room)), () => {
      // Left (or closed) while this node subscribed: a member added now would have no leave.
      stillJoining(client, room);
      return andThen(
        this.engine.addMember(this.ns, room, { sub: client.sub, info: client.info }, client.id),
        (first) => (first && this.presenceOn(room) ? this.announce(room, 'join', client) : undefined),
      );
    });
  }

  /** Leaves a joined room (`not_joined` otherwise). Not async, as `join`. */
  leave(client: Client, room: unknown): MaybePromise<void> {
    const name = this.roomName(room);
    if (!client.rooms.delete(name)) throw new RoomcastError('not_joined', `not joined to room "${name}"`);
    this.transport.leave(client, name);
    // Left here already: the connection gets nothing more of the room, and a retry would be
    // `not_joined`. A membership Redis cannot drop now is dropped when the engine reconciles with
    // it (the Redis engine marks itself for that on a failed removal), its `leave` event then.
    return attempt(
      () =>
        andThen(this.engine.removeMember(this.ns, name, client.sub, client.id), (last) =>
          last && this.presenceOn(name) ? this.announce(name, 'leave', client) : undefined,
        ),
      () => undefined,
    );
  }

  /**
   * Applies new rights (a refreshed token): rooms the connection may no longer subscribe to are
   * left, and presence events follow the new presence right. Returns the rooms left.
   */
  reauthorize(client: Client, rights: Rights): MaybePromise<string[]> {
    client.rights = rights;
    const dropped: string[] = [];
    for (const room of [...client.rooms]) {
      if (!can(rights, 'subscribe', room)) dropped.push(room);
      else if (this.presenceOn(room)) this.transport.setPresence(client, room, can(rights, 'presence', room));
    }
    return andThen(this.leaveQuietly(client, dropped), () => dropped);
  }

  /** Leaves every room of a connection that is gone; never throws, nor rejects. */
  leaveAll(client: Client): MaybePromise<void> {
    return this.leaveQuietly(client, [...client.rooms]);
  }

  /** Leaves `rooms`, each whatever becomes of the others; waits only for leaves that wait. */
  private leaveQuietly(client: Client, rooms: readonly string[]): MaybePromise<void> {
    const waiting: Promise<void>[] = [];
    for (const room of rooms) {
      const left = attempt(
        () => this.leave(client, room),
        () => undefined,
      );
      if (left instanceof Promise) waiting.push(left);
    }
    if (waiting.length > 0) return Promise.all(waiting).then(() => undefined);
  }

  /**
   * The one publish path: sockets, `POST /v1/publish` and batches all come here. `from` is the
   * publishing connection, or null for the server API (which has every right). `payload`: what
   * `checkMessage(event, data)` answered when the caller ran it already (the HTTP API, once per message
   * for all its rooms).
   *
   * Not async: with an engine that answers at once (memory) the reply is returned, not a promise,
   * and bad input throws here; callers `await` it (or check for a promise, as the socket handler).
   */
  publish(
    from: Client | null,
    input: PublishInput,
    opts: PublishOptions = {},
  ): PublishResult | Promise<PublishResult> {
    const started = performance.now();
    const name = this.roomName(input.room);
    if (from) this.require(from, 'publish', name);
    const data = input.data === undefined ? null : input.data;
    const payload = opts.payload ?? this.checkMessage(input.event, data);
    // One object per publish, of one shape: what the engine stores and sends (fields in envelope order).
    const draft: Draft = {
      id: this.ids.next(),
      room: name,
      event: input.event,
      data,
      ts: Date.now(),
      from: from ? authorOf(from) : null,
    };
    const engineOpts: PublishOpts = {
      binary: payload.binary,
      dataJson: payload.json,
      exceptConnId: from ? (opts.echo ? undefined : from.id) : opts.except,
    };
    if (opts.idempotencyKey) {
      engineOpts.idempotencyKey = opts.idempotencyKey;
      engineOpts.idempotencyWindowMs = this.idempotencyWindowMs;
    }
    const source = opts.source ?? (from ? 'socket' : 'api');
    // A publisher without echo that has joined the room, on an engine that can lose a delivery
    // (Redis: a gap is filled from history, which does not say whom to leave out).
    if (
      from &&
      !opts.echo &&
      this.engine.kind !== 'memory' &&
      from.rooms.has(name) &&
      this.transport.leaveOut
    )
      return this.publishLeavingOut(draft, from.id, engineOpts, source, started);
    const published = this.engine.publish(this.ns, draft, this.historyPolicy(name), engineOpts);
    // Not `andThen`: its callback would be one more closure (about 100 bytes) on every publish.
    return published instanceof Promise
      ? published.then((p) => this.published(p, source, started))
      : this.published(published, source, started);
  }

  /**
   * `publish` for a connection that must not get its message, however it reaches this node. Not
   * async: what waits for the engine holds the message's id, not the draft and its data.
   */
  private publishLeavingOut(
    draft: Draft,
    connId: string,
    engineOpts: PublishOpts,
    source: 'socket' | 'api',
    started: number,
  ): Promise<PublishResult> {
    const transport = this.transport;
    const id = draft.id;
    transport.leaveOut?.(id, connId);
    let published: MaybePromise<Published>;
    try {
      published = this.engine.publish(this.ns, draft, this.historyPolicy(draft.room), engineOpts);
    } catch (err) {
      transport.forgetLeftOut?.(id);
      return Promise.reject(err);
    }
    return Promise.resolve(published).then(
      (p) => {
        // A repeat of an idempotency key is not sent: nothing to wait for.
        if (p.duplicate) transport.forgetLeftOut?.(id);
        return this.published(p, source, started);
      },
      (err: unknown) => {
        transport.forgetLeftOut?.(id);
        throw err;
      },
    );
  }

  private published(p: Published, source: 'socket' | 'api', started: number): PublishResult {
    if (!p.duplicate) this.observer.published?.(source, this.ns, (performance.now() - started) / 1000);
    // The server API reports a repeat under the room of the first publish; a socket ack is
    // `{ offset, epoch }` alone.
    return source === 'api' && p.room
      ? { offset: p.offset, epoch: p.epoch, room: p.room }
      : { offset: p.offset, epoch: p.epoch };
  }

  /**
   * Whether a message may be published here: its event name (`checkEventName`), its data's size
   * within `limits.payloadBytes` (`payload_too_large`), nesting and shape (`bad_request`, see
   * `payloadSize`). Callers that publish one message to several rooms run it once, first.
   */
  checkMessage(event: string, data: unknown): PayloadInfo {
    checkEventName(event);
    if (this.config.socketIoEvents && SOCKET_IO_RESERVED.has(event))
      throw new RoomcastError(
        'bad_request',
        `event name "${event}" is reserved by Socket.IO (Laravel Echo clients get each message as a Socket.IO event of its name)`,
      );
    const payload = inspectPayload(data);
    if (payload.size > this.config.limits.payloadBytes) {
      throw new RoomcastError(
        'payload_too_large',
        `payload is ${payload.size} bytes; the limit is ${this.config.limits.payloadBytes}`,
      );
    }
    return payload;
  }

  /** Members of a room; `client` null is the server API. */
  async presence(client: Client | null, room: unknown): Promise<Member[]> {
    const name = this.roomName(room);
    if (client) this.require(client, 'presence', name);
    if (!this.presenceOn(name)) throw new RoomcastError('forbidden', `presence is off for room "${name}"`);
    return this.engine.members(this.ns, name);
  }

  /** History of a room; `client` null is the server API. */
  async historyOf(
    client: Client | null,
    room: unknown,
    since?: StreamPosition,
    limit?: number,
  ): Promise<HistoryReply> {
    const name = this.roomName(room);
    if (client) this.require(client, 'subscribe', name);
    const max = this.config.limits.historyLimit;
    const result = await this.history(name, since, Math.min(limit ?? max, max));
    return {
      messages: result.messages,
      offset: result.offset,
      epoch: result.epoch,
      recovered: result.recovered,
    };
  }

  /** Validates a room name with this namespace's limit; throws `invalid_room`. */
  roomName(room: unknown): string {
    return parseRoomName(room, this.config.limits.roomNameLength);
  }

  /** Whether the user may do `right` in `room`; throws `forbidden` when not. */
  require(client: Client, right: 'subscribe' | 'publish' | 'presence', room: string): void {
    if (!can(client.rights, right, room)) {
      throw new RoomcastError('forbidden', `no ${right} right for room "${room}"`);
    }
  }

  historyPolicy(room: string): HistoryPolicy {
    for (const rule of this.config.history) {
      if (compilePattern(rule.pattern)(room)) return rule;
    }
    return NO_HISTORY;
  }

  presenceOn(room: string): boolean {
    return matchesAny(this.config.presence, room);
  }

  private presenceVisible(client: Client, room: string): boolean {
    return this.presenceOn(room) && can(client.rights, 'presence', room);
  }

  /**
   * What a join replays: everything after `since`. When more than `max` were missed the client
   * cannot have them all: it gets the latest ones (contiguous with what comes live) and
   * `recovered: false`, never a silent gap.
   */
  private replay(room: string, since: StreamPosition | undefined, max: number): MaybePromise<HistoryResult> {
    if (!since) return this.history(room, undefined, 0, true);
    return andThen(this.history(room, since, max + 1, true), (result) =>
      result.messages.length <= max
        ? result
        : andThen(this.history(room, undefined, max, true), (latest) => ({ ...latest, recovered: false })),
    );
  }

  /** `create`: a join starts the room's stream; a read of a room with no state creates none. */
  private history(
    room: string,
    since: StreamPosition | undefined,
    limit: number,
    create = false,
  ): MaybePromise<HistoryResult> {
    const query = since ? { since, limit, create } : { limit, create };
    return this.engine.history(this.ns, room, query, this.historyPolicy(room));
  }

  private announce(room: string, action: 'join' | 'leave', client: Client): MaybePromise<void> {
    const event: PresenceEvent = { room, action, member: { sub: client.sub, info: client.info } };
    return this.engine.announce(this.ns, event, client.id);
  }
}
