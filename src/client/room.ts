import type {
  Envelope,
  HistoryReply,
  PresenceEvent,
  PresenceReply,
  PublishReply,
  PublishRequest,
  StreamPosition,
} from '../protocol.js';
import { Emitter } from './emitter.js';
import { ClientError, failure, type Result } from './errors.js';
import { type PublishOptions, publishPayload } from './publish.js';
import type { MessageMap, RoomHost, RoomInternals } from './room-host.js';
import { Sequencer } from './stream.js';
import type {
  JoinedEvent,
  JoinInfo,
  MessageHandler,
  MessageMeta,
  PresenceChange,
  UnrecoveredEvent,
} from './types.js';

interface RoomEvents {
  joined: (event: JoinedEvent) => void;
  presence: (change: PresenceChange) => void;
  unrecovered: (event: UnrecoveredEvent) => void;
  error: (error: ClientError) => void;
}

/** Temporary join failures are retried after this long while the connection stays up. */
const JOIN_RETRY_MS = 1_000;
/** After a fill failed with a temporary error (rate limited, unavailable). */
const FILL_RETRY_MS = 1_000;

/**
 * One joined room: its messages in order and exactly once (across reconnects), presence, history
 * and publishing. Made by `client.join(room)`; handlers added in the same tick see every message.
 *
 * @example
 * type Chat = { msg: { text: string }; typing: { on: boolean } };
 * const room = client.join<Chat>('chat:lobby');
 * room.on('msg', (data, meta) => console.log(meta.offset, meta.from?.sub, data.text));
 * const res = await room.publish('msg', { text: 'hi' });
 * if (!res.ok) console.error(res.error.code);
 */
export class Room<M extends MessageMap = Record<string, unknown>> implements RoomInternals {
  /** `joining` until the first join answers, then `joined`; `left` or `failed` at the end. */
  status: 'joining' | 'joined' | 'left' | 'failed' = 'joining';
  /** Settles with the first join's answer (or its refusal); never rejects. */
  readonly joined: Promise<Result<JoinInfo>>;
  private settle!: (result: Result<JoinInfo>) => void;
  private readonly seq: Sequencer;
  private readonly handlers = new Map<string, Set<MessageHandler<never>>>();
  private readonly events: Emitter<RoomEvents>;
  private attachId = 0;
  /** This connection's publishes without echo whose acknowledgement has not come yet, by number. */
  private readonly ownPending = new Set<number>();
  private ownCount = 0;
  /**
   * Answers held until the publishes pending when they came are answered (a rejoin's reply, a gap
   * fill's: see `afterOwnPublishes`). Publishes started later do not hold them back.
   */
  private readonly waiting: Array<{ ids: Set<number>; run: () => void }> = [];
  /** Retries waiting (a join, a fill): cleared when the room ends, so none outlives it. */
  private readonly retries = new Set<ReturnType<typeof setTimeout>>();
  private everJoined = false;

  constructor(
    readonly name: string,
    private readonly host: RoomHost,
    private readonly since: StreamPosition | undefined,
  ) {
    this.joined = new Promise((resolve) => {
      this.settle = resolve;
    });
    this.events = new Emitter((err) => host.error(handlerError(err, name)));
    this.seq = new Sequencer({
      deliver: (m, replayed) => this.deliver(m, replayed),
      fill: (since, id) => void this.fill(since, id),
      unrecovered: (reason, from, to) => {
        const event: UnrecoveredEvent = { room: name, reason, from, to };
        this.events.emit('unrecovered', event);
        host.unrecovered(event);
      },
    });
  }

  /**
   * The last delivered position (save it to resume with `join(room, { since })`): before the first
   * message, the `since` the room was joined with, and null when there was none.
   */
  get position(): StreamPosition | null {
    return this.seq.position ?? this.since ?? null;
  }

  /**
   * Handles one message event (`'*'`: every event); returns a function that removes the handler.
   *
   * @example
   * const off = room.on('msg', (data, meta) => render(meta.from, data));
   */
  on<K extends keyof M & string>(event: K, handler: MessageHandler<M[K]>): () => void;
  on(event: '*', handler: MessageHandler<M[keyof M]>): () => void;
  on(event: string, handler: MessageHandler<never>): () => void {
    let set = this.handlers.get(event);
    if (!set) {
      set = new Set();
      this.handlers.set(event, set);
    }
    set.add(handler);
    return () => void set.delete(handler);
  }

  /** After each successful join and rejoin (refresh a member list here: presence events missed while away are not replayed). */
  onJoined(handler: (event: JoinedEvent) => void): () => void {
    return this.events.on('joined', handler);
  }

  /** A member came or went (needs the presence right). */
  onPresence(handler: (change: PresenceChange) => void): () => void {
    return this.events.on('presence', handler);
  }

  /** Messages were lost to this client (history no longer reached back): reload what you show. */
  onUnrecovered(handler: (event: UnrecoveredEvent) => void): () => void {
    return this.events.on('unrecovered', handler);
  }

  /** A refused join, a failed gap fill, a throwing handler. */
  onError(handler: (error: ClientError) => void): () => void {
    return this.events.on('error', handler);
  }

  /**
   * Publishes to this room (needs the publish right, not a join). `echo: true` delivers it to this
   * connection too. A lost acknowledgement is retried with the same idempotency key, so the
   * message is delivered once (`publishRetries`).
   *
   * @example
   * const res = await room.publish('msg', { text: 'hi' }, { echo: true });
   * if (res.ok) console.log('offset', res.offset);
   */
  publish<K extends keyof M & string>(
    event: K,
    data: M[K],
    opts: PublishOptions = {},
  ): Promise<Result<PublishReply>> {
    const payload = publishPayload(this.name, event, data, opts);
    if (opts.echo) return this.host.publish(payload);
    return this.publishOwn(payload);
  }

  /**
   * The room's members, one per user.
   *
   * @example
   * const res = await room.presence();
   * if (res.ok) console.log(res.members.map((m) => m.sub));
   */
  presence(): Promise<Result<PresenceReply>> {
    return this.host.request('presence', { room: this.name }, { room: this.name });
  }

  /**
   * Stored messages: the latest `limit`, or those after `since`. This does not go through the
   * handlers; recovery after reconnects is automatic.
   *
   * @example
   * const res = await room.history({ limit: 20 });
   * if (res.ok) for (const m of res.messages) render(m);
   */
  history(query: { since?: StreamPosition; limit?: number } = {}): Promise<Result<HistoryReply>> {
    return this.host.request('history', { room: this.name, ...query }, { room: this.name });
  }

  /**
   * Leaves the room: no more messages, no rejoin after reconnects. A leave refused for now
   * (`rate_limited`, `unavailable`, `timeout`) is sent again every second until the server has
   * done it or the connection ends (which leaves every room); it is given up, with that error, when
   * the room is joined again meanwhile.
   *
   * @example
   * await room.leave();
   */
  async leave(): Promise<Result> {
    if (this.status === 'left' || this.status === 'failed')
      return failure('not_joined', `not joined to room "${this.name}"`, { room: this.name });
    this.end('left', failure('closed', `left room "${this.name}"`, { room: this.name }));
    for (;;) {
      const res = await this.host.request('leave', { room: this.name }, { room: this.name, now: true });
      // Not connected (`disconnected`; `closed` after `disconnect()`), or the join never landed:
      // nothing to leave on the server, and the next connection does not rejoin it.
      const code = res.ok ? undefined : res.error.code;
      if (res.ok || code === 'disconnected' || code === 'closed' || code === 'not_joined')
        return { ok: true };
      if (!res.error.temporary) return res;
      // The server still has the membership (its messages come, presence lists the user). The wait
      // does not hold a Node process up: once the client is gone, so is the membership.
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, JOIN_RETRY_MS) as { unref?: () => void };
        timer.unref?.();
      });
      if (this.host.holds(this.name)) return res;
    }
  }

  /** @internal Sends the join (or rejoin with `since`) on a fresh connection. */
  async attach(): Promise<void> {
    if (this.ended) return;
    const id = ++this.attachId;
    this.seq.joining();
    const since = this.seq.position ?? this.since;
    const res = await this.host.request('join', since ? { room: this.name, since } : { room: this.name }, {
      room: this.name,
      now: true,
    });
    if (id !== this.attachId || this.ended) return;
    if (!res.ok) return this.joinFailed(res.error, id);
    const apply = () => {
      if (id !== this.attachId || this.ended) return;
      this.seq.joined(res, since);
      this.status = 'joined';
      const info: JoinInfo = { offset: res.offset, epoch: res.epoch, recovered: res.recovered };
      const first = !this.everJoined;
      this.everJoined = true;
      this.settle({ ok: true, ...info });
      this.events.emit('joined', { room: this.name, ...info, resumed: since !== undefined, first });
    };
    // The replay may hold this connection's own publishes whose acknowledgements are still on the
    // way (lost with the old connection and retried): like a gap fill's answer, it waits for them,
    // so their offsets are passed over and not handed to the app. Live messages wait meanwhile.
    if (res.messages.length > 0) this.afterOwnPublishes(apply);
    else apply();
  }

  /** @internal A live message of this room. */
  receive(envelope: Envelope): void {
    if (!this.ended) this.seq.push(envelope);
  }

  /** @internal A presence event of this room. */
  presenceChanged(event: PresenceEvent): void {
    this.events.emit('presence', { room: event.room, action: event.action, member: event.member });
  }

  /** @internal A refreshed token no longer allows this room: the server left it; no rejoin. */
  revoke(): void {
    if (this.ended) return;
    const res = failure('forbidden', `the refreshed token no longer allows room "${this.name}"`, {
      room: this.name,
    });
    this.report(res.error);
    this.end('failed', res);
  }

  /** @internal The client was disconnected for good. */
  close(): void {
    this.end('left', failure('closed', 'the client was disconnected', { room: this.name }));
  }

  private get ended(): boolean {
    return this.status === 'left' || this.status === 'failed';
  }

  /**
   * @internal The client stopped (a refused token, `disconnect()`): a room never joined yet
   * answers `joined` with why. It is kept, and joined on the next `connect()`.
   */
  stopped(error: ClientError | undefined): void {
    if (this.everJoined || this.ended) return;
    this.settle(
      failure(error?.code ?? 'closed', error?.message ?? 'the client stopped before the room was joined', {
        room: this.name,
      }),
    );
  }

  private joinFailed(error: ClientError, id: number): void {
    // Not connected now (`disconnected`), or stopped (`closed`, a retry after `disconnect()`): the
    // next connection rejoins; the room is not given up for it.
    if (error.code === 'disconnected' || error.code === 'closed') return;
    this.report(error);
    if (error.temporary) {
      this.later(JOIN_RETRY_MS, () => {
        if (id === this.attachId) void this.attach();
      });
      return;
    }
    this.end('failed', { ok: false, error });
  }

  /** Runs `f` in `ms`, unless the room ends first. */
  private later(ms: number, f: () => void): void {
    const timer = setTimeout(() => {
      this.retries.delete(timer);
      f();
    }, ms);
    this.retries.add(timer);
  }

  private end(status: 'left' | 'failed', result: Result<JoinInfo>): void {
    this.status = status;
    this.attachId++;
    for (const timer of this.retries) clearTimeout(timer);
    this.retries.clear();
    this.settle(result);
    this.host.forget(this);
  }

  /**
   * A publish without echo never comes back live: its offset is passed over, not taken for a gap.
   * Gap fills and rejoin replays wait for these acks, so neither hands the app its own message.
   */
  private async publishOwn(payload: PublishRequest): Promise<Result<PublishReply>> {
    const id = ++this.ownCount;
    this.ownPending.add(id);
    try {
      const res = await this.host.publish(payload);
      if (res.ok) this.seq.passOver(res);
      return res;
    } finally {
      // Also when the publish threw (data the client cannot encode): nothing may wait on it.
      this.ownPending.delete(id);
      for (const w of [...this.waiting]) {
        if (!w.ids.delete(id) || w.ids.size > 0) continue;
        this.waiting.splice(this.waiting.indexOf(w), 1);
        w.run();
      }
    }
  }

  /**
   * Runs `run` once the own publishes pending now are answered (at once when there are none): a
   * steady stream of new publishes never holds it back, only those that may be in what it reads.
   */
  private afterOwnPublishes(run: () => void): void {
    if (this.ownPending.size === 0) run();
    else this.waiting.push({ ids: new Set(this.ownPending), run });
  }

  private async fill(since: StreamPosition, id: number): Promise<void> {
    const res = await this.host.request(
      'history',
      { room: this.name, since },
      { room: this.name, now: true },
    );
    // The answer may hold this connection's own publishes whose acks are on the way: it is taken
    // once those are in (publishes started after it cannot be in it).
    if (res.ok) return this.afterOwnPublishes(() => this.seq.filled(res, id));
    this.seq.fillFailed(id);
    if (res.error.code === 'disconnected') return; // the rejoin fills
    this.report(res.error);
    // Rate limited, or the broker briefly unavailable: ask again (recovering many binary messages
    // takes a page per 10 binary parts, which can pass the connection's event limit).
    if (res.error.temporary) {
      this.later(FILL_RETRY_MS, () => {
        if (!this.ended) this.seq.retryFill(id);
      });
    }
  }

  private deliver(m: Envelope, replayed: boolean): void {
    const data = m.data;
    // Field by field: a rest copy plus a spread that adds a property take V8's slow path (about
    // 2 µs per message in Node 20), on every message every client receives.
    const meta: MessageMeta = {
      id: m.id,
      room: m.room,
      event: m.event,
      offset: m.offset,
      epoch: m.epoch,
      ts: m.ts,
      from: m.from,
      replayed,
    };
    for (const key of [m.event, '*']) {
      for (const handler of this.handlers.get(key) ?? []) {
        try {
          (handler as MessageHandler<unknown>)(data, meta);
        } catch (err) {
          this.report(handlerError(err, this.name));
        }
      }
    }
  }

  private report(error: ClientError): void {
    this.events.emit('error', error);
    this.host.error(error);
  }
}

function handlerError(err: unknown, room: string): ClientError {
  return new ClientError('handler_error', `a handler of room "${room}" threw`, { room, cause: err });
}
