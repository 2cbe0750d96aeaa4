import type { PublishReply, PublishRequest, ReplyOf, RequestOf, StreamPosition } from '../protocol.js';
import { ack, type RoomcastSocket } from './ack.js';
import { Connection } from './connection.js';
import { Emitter } from './emitter.js';
import { ClientError, failure, type Result } from './errors.js';
import { PUBLISH_RETRIES, type PublishOptions, publishOnce, publishPayload } from './publish.js';
import { Room } from './room.js';
import type { MessageMap, RoomHost, RoomInternals } from './room-host.js';
import { TokenSource } from './token.js';
import type { ClientEvents, ClientOptions, ConnectionState } from './types.js';

const MAX_TIMER_MS = 2 ** 31 - 1;
const TIMER_SETTINGS = [
  'connectTimeoutMs',
  'ackTimeoutMs',
  'reconnectionDelay',
  'reconnectionDelayMax',
] as const;

const DEFAULTS = {
  namespace: '/',
  ackTimeoutMs: 10_000,
  connectTimeoutMs: 10_000,
  reconnectionDelay: 500,
  reconnectionDelayMax: 5_000,
  randomizationFactor: 0.5,
  publishRetries: PUBLISH_RETRIES,
  socketOptions: {},
};

/**
 * A roomcast client: one connection (moving between nodes and reconnecting on its own) and the
 * rooms it has joined. Made by `createClient`.
 *
 * @example
 * const client = createClient({ url: 'http://localhost:3000', getToken: fetchToken });
 * client.on('state', (s) => console.log('connection', s));
 * client.on('error', (e) => console.error(e.code, e.message));
 * const room = client.join('chat:lobby');
 * room.on('msg', (data, meta) => console.log(meta.offset, data));
 */
export class RoomcastClient {
  private readonly events = new Emitter<ClientEvents>((err) => this.handlerThrew(err));
  private readonly connection: Connection;
  private readonly joined = new Map<string, RoomInternals>();
  private readonly ackTimeoutMs: number;
  /** Why the connection loop last stopped (it ran, and `connect()` was not called since). */
  private stoppedBy: { error?: ClientError } | null = null;
  private readonly host: RoomHost;

  constructor(options: ClientOptions) {
    const urls = options.urls?.length ? [...options.urls] : [options.url ?? pageOrigin()];
    if (urls.some((u) => typeof u !== 'string' || u.length === 0))
      throw new ClientError(
        'bad_request',
        'createClient: give `url` or `urls` (e.g. "http://localhost:3000")',
      );
    const settings = { ...DEFAULTS, ...definedOnly(options) };
    // A timer set past 2^31 - 1 ms fires at once: a longer one (Infinity: "no limit") is that long.
    for (const key of TIMER_SETTINGS) settings[key] = Math.min(settings[key], MAX_TIMER_MS);
    this.ackTimeoutMs = settings.ackTimeoutMs;
    const tokens = new TokenSource(options.token, options.getToken);
    this.connection = new Connection(urls, settings, tokens, this.events, {
      socket: (socket) => this.wire(socket),
      connected: () => {
        for (const room of this.joined.values()) void room.attach();
      },
      revoked: (rooms) => {
        for (const name of rooms) this.joined.get(name)?.revoke();
      },
    });
    const retries = Math.max(0, settings.publishRetries);
    const send = (payload: PublishRequest) => this.request('publish', payload, { room: payload.room });
    this.host = {
      request: (event, payload, opts) => this.request(event, payload, opts),
      publish: (payload) => publishOnce(payload, send, retries),
      forget: (room) => {
        if (this.joined.get(room.name) === room) this.joined.delete(room.name);
      },
      holds: (name) => this.joined.has(name),
      error: (err) => this.events.emit('error', err),
      unrecovered: (event) => this.events.emit('unrecovered', event),
    };
    this.events.on('disconnected', ({ error }) => {
      if (this.connection.active) return; // connect() was called again meanwhile
      this.stoppedBy = error ? { error } : {};
      for (const room of this.joined.values()) room.stopped(error);
    });
    if (options.autoConnect !== false) this.connection.start();
  }

  /** Where the connection stands: `connecting`, `connected`, `reconnecting` or `disconnected`. */
  get state(): ConnectionState {
    return this.connection.state;
  }

  /** The URL of the current (or next) connection. */
  get url(): string {
    return this.connection.url;
  }

  /** The current socket.io-client socket (null between connections); for diagnostics and tests. */
  get socket(): RoomcastSocket | null {
    return this.connection.socket;
  }

  /** The rooms joined (or being joined) now. */
  get rooms(): Room[] {
    return [...this.joined.values()] as unknown as Room[];
  }

  /**
   * Adds a handler of a client event; returns a function that removes it.
   *
   * @example
   * client.on('unrecovered', ({ room }) => reloadRoom(room));
   */
  on<K extends keyof ClientEvents>(event: K, handler: ClientEvents[K]): () => void {
    return this.events.on(event, handler);
  }

  /** Like `on`, for one call. */
  once<K extends keyof ClientEvents>(event: K, handler: ClientEvents[K]): () => void {
    return this.events.once(event, handler);
  }

  off<K extends keyof ClientEvents>(event: K, handler: ClientEvents[K]): void {
    this.events.off(event, handler);
  }

  /**
   * Joins a room, now or as soon as connected, and again after every reconnect (resuming from the
   * last delivered offset). Returns at once; add handlers in the same tick to see every message.
   * Joining a room already joined returns its handle. `since` resumes from a saved position.
   *
   * @example
   * const room = client.join<{ msg: { text: string } }>('chat:lobby', { since: saved });
   * room.on('msg', (data) => console.log(data.text));
   * const res = await room.joined;
   * if (!res.ok) console.error('join refused:', res.error.code);
   */
  join<M extends MessageMap = Record<string, unknown>>(
    room: string,
    opts: { since?: StreamPosition } = {},
  ): Room<M> {
    const existing = this.joined.get(room);
    if (existing) return existing as unknown as Room<M>;
    const handle = new Room<M>(room, this.host, opts.since);
    this.joined.set(room, handle);
    if (this.connection.state === 'connected' && this.socket?.connected) void handle.attach();
    // Stopped after running (a refused token, `disconnect()`): `joined` answers now, as for the
    // rooms held then; the room is joined on the next `connect()`.
    else if (this.stoppedBy) handle.stopped(this.stoppedBy.error);
    return handle;
  }

  /**
   * Publishes to a room without joining it (needs the publish right). For a joined room this is
   * `room.publish`. A lost acknowledgement is retried with the same idempotency key, so the
   * message is delivered once.
   *
   * @example
   * const res = await client.publish('chat:lobby', 'msg', { text: 'hi' });
   */
  publish(
    room: string,
    event: string,
    data: unknown,
    opts: PublishOptions = {},
  ): Promise<Result<PublishReply>> {
    const joined = this.joined.get(room) as unknown as Room | undefined;
    if (joined) return joined.publish(event, data, opts);
    return this.host.publish(publishPayload(room, event, data, opts));
  }

  /** The handle of a joined room. */
  room<M extends MessageMap = Record<string, unknown>>(name: string): Room<M> | undefined {
    return this.joined.get(name) as unknown as Room<M> | undefined;
  }

  /**
   * Connects (again) after `disconnect()` or a refused token; rooms are rejoined and resumed. After
   * a refused token, `getToken` (when given) is asked for another: the refused one is not sent again.
   */
  connect(): void {
    this.stoppedBy = null;
    this.connection.start();
  }

  /**
   * Closes the connection and stops reconnecting. Rooms and their positions are kept, so
   * `connect()` later resumes them and delivers what was missed.
   */
  disconnect(): void {
    this.connection.stop();
  }

  /** Disconnects and leaves every room for good. */
  close(): void {
    for (const room of this.joined.values()) room.close();
    this.joined.clear();
    this.connection.stop();
  }

  /** Sends a request, waiting (within the ack timeout) for a connection unless `now`. */
  private async request<E extends 'join' | 'leave' | 'publish' | 'presence' | 'history'>(
    event: E,
    payload: RequestOf<E>,
    opts: { room: string; now?: boolean },
  ): Promise<Result<ReplyOf<E>>> {
    const deadline = Date.now() + this.ackTimeoutMs;
    const socket = opts.now ? this.socket : await this.connected(this.ackTimeoutMs);
    if (!socket?.connected) {
      const code =
        this.connection.state === 'disconnected' ? 'closed' : opts.now ? 'disconnected' : 'timeout';
      return failure(code, `not connected; "${event}" was not sent`, { room: opts.room });
    }
    return ack(socket, event, payload, Math.max(1, deadline - Date.now()), opts.room);
  }

  /** The connected socket, waiting for one up to `ms`; null when none came. */
  private connected(ms: number): Promise<RoomcastSocket | null> {
    const now = this.socket;
    if (this.state === 'connected' && now?.connected) return Promise.resolve(now);
    if (!this.connection.active) return Promise.resolve(null);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        offUp();
        offDown();
        resolve(this.socket?.connected ? this.socket : null);
      };
      const timer = setTimeout(done, ms);
      const offUp = this.events.on('connected', done);
      const offDown = this.events.on('disconnected', done);
    });
  }

  private wire(socket: RoomcastSocket): void {
    socket.on('message', (envelope) => this.joined.get(envelope?.room)?.receive(envelope));
    socket.on('presence', (event) => this.joined.get(event?.room)?.presenceChanged(event));
  }

  private handlerThrew(err: unknown): void {
    const error = new ClientError('handler_error', 'a client event handler threw', { cause: err });
    // An `error` handler that throws is not asked again about its own error.
    if (this.events.count('error') > 0) setTimeout(() => this.events.emit('error', error), 0);
  }
}

/**
 * Creates a client and (unless `autoConnect: false`) connects it.
 *
 * @example
 * import { createClient } from 'roomcast/client';
 * const client = createClient({
 *   url: 'http://localhost:3000',
 *   getToken: async () => (await fetch('/api/roomcast-token')).text(),
 * });
 */
export function createClient(options: ClientOptions): RoomcastClient {
  return new RoomcastClient(options);
}

function pageOrigin(): string {
  const origin = (globalThis as { location?: { origin?: unknown } }).location?.origin;
  return typeof origin === 'string' ? origin : '';
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
