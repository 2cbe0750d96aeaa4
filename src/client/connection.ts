import { io } from 'socket.io-client';
import type { ClosingCode } from '../protocol.js';
import type { RoomcastSocket } from './ack.js';
import type { Emitter } from './emitter.js';
import { ClientError, type ClientErrorCode, connectErrorCode, isTokenCode } from './errors.js';
import { Refresher } from './refresh.js';
import type { TokenSource } from './token.js';
import type { ClientEvents, ClientOptions, ConnectionState } from './types.js';

/** How one connection ended. */
type Outcome =
  | { kind: 'refused'; code: ClientErrorCode | undefined; error: ClientError }
  | { kind: 'ended'; reason: string; closing: { code: ClosingCode; message: string } | undefined }
  | { kind: 'stopped' };

/** What the loop does next: try again (after `delayMs`, on the next url or not), or stop. */
type Next =
  | { retry: true; delayMs: number; rotate: boolean; freshToken?: boolean }
  | { retry: false; reason: string; error?: ClientError };

export interface ConnectionHooks {
  /** A new socket was made: wire its server events (before it connects). */
  socket(socket: RoomcastSocket): void;
  /** The socket connected: rejoin rooms. */
  connected(socket: RoomcastSocket): void;
  /** A refreshed token no longer allows these rooms: the server left them. */
  revoked(rooms: readonly string[]): void;
}

type Settings = Required<Omit<ClientOptions, 'url' | 'urls' | 'token' | 'getToken' | 'autoConnect'>>;

/**
 * The connection loop of one client. Socket.IO's own reconnection is bound to one URL, so the SDK
 * runs the loop: one socket.io-client socket per connection, the same randomized exponential
 * backoff as Socket.IO, the next URL of the list for each new attempt, a fresh token where the
 * server asks for one, and no retry loop for a refused token.
 */
export class Connection {
  socket: RoomcastSocket | null = null;
  state: ConnectionState = 'disconnected';
  private wanted = false;
  private running = false;
  private urlIndex = 0;
  private interrupt: (() => void) | null = null;
  private everConnected = false;

  constructor(
    private readonly urls: readonly string[],
    private readonly settings: Settings,
    private readonly tokens: TokenSource,
    private readonly events: Emitter<ClientEvents>,
    private readonly hooks: ConnectionHooks,
  ) {}

  /** The URL of the current (or next) connection. */
  get url(): string {
    return this.urls[this.urlIndex]!;
  }

  start(): void {
    this.wanted = true;
    if (this.running) return;
    this.running = true;
    this.everConnected = false;
    // A tick later, so handlers added right after `createClient` see `connecting`.
    void Promise.resolve()
      .then(() => this.loop())
      .finally(() => {
        this.running = false;
        if (this.wanted) this.start(); // connect() was called while the loop was ending
      });
  }

  /** True from `start()` until `stop()` or a stop of the loop's own (a refused token). */
  get active(): boolean {
    return this.wanted;
  }

  stop(): void {
    this.wanted = false;
    this.interrupt?.();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    let freshToken = false;
    let freshTried = false;
    let delayMs = 0;
    let last: { reason: string; error?: ClientError } = { reason: 'connect' };
    let stopped: { reason: string; error?: ClientError } = { reason: 'client disconnect' };
    while (this.wanted) {
      if (delayMs > 0 || this.everConnected || failures > 0) {
        this.setState('reconnecting');
        this.events.emit('reconnecting', { attempt: failures + 1, delayMs, url: this.url, ...last });
        await this.wait(delayMs);
        if (!this.wanted) break;
      } else {
        this.setState('connecting');
      }
      let token: string | undefined;
      try {
        const got = await this.bounded(freshToken ? this.tokens.fresh() : this.tokens.get());
        // Stopped while getToken ran (and perhaps started again): this attempt is over.
        if (got === STOPPED) continue;
        token = got;
      } catch (err) {
        const error = err instanceof ClientError ? err : new ClientError('get_token_failed', String(err));
        this.events.emit('error', error);
        last = { reason: 'get_token_failed', error };
        delayMs = this.backoff(failures++);
        continue;
      }
      if (!this.wanted) break;
      const outcome = await this.session(this.url, token);
      if (outcome.kind === 'ended') {
        failures = 0;
        freshTried = false;
      }
      const next = this.decide(outcome, freshTried, failures);
      if (!next.retry) {
        stopped = next;
        if (next.error) this.events.emit('error', next.error);
        break;
      }
      freshToken = next.freshToken === true;
      freshTried ||= freshToken;
      if (outcome.kind === 'refused' && !freshToken) failures++;
      if (next.rotate) this.urlIndex = (this.urlIndex + 1) % this.urls.length;
      delayMs = next.delayMs;
      last =
        outcome.kind === 'refused'
          ? { reason: 'connect_error', error: outcome.error }
          : { reason: outcome.kind === 'ended' ? outcome.reason : 'stopped' };
    }
    // A stop of the loop's own (a refused token) ends what was wanted; a `stop()` set it already,
    // and a `connect()` right after it (in the same tick) wants the loop again: left as it is.
    if (stopped.reason !== 'client disconnect') this.wanted = false;
    this.setState('disconnected');
    this.events.emit('disconnected', stopped);
  }

  /** The policy: what one outcome leads to. */
  private decide(outcome: Outcome, freshTried: boolean, failures: number): Next {
    if (outcome.kind === 'stopped') return { retry: false, reason: 'client disconnect' };
    const several = this.urls.length > 1;
    if (outcome.kind === 'refused') {
      const { code, error } = outcome;
      if (code === 'token_expired' && this.tokens.renewable && !freshTried)
        return { retry: true, delayMs: 0, rotate: false, freshToken: true };
      if (isTokenCode(code)) {
        // Not sent again: a later `connect()` asks `getToken` for another (when there is one).
        this.tokens.refused();
        return { retry: false, reason: code!, error };
      }
      return { retry: true, delayMs: this.backoff(failures), rotate: several };
    }
    const closing = outcome.closing?.code;
    if (closing === 'token_expired') {
      if (this.tokens.renewable) return { retry: true, delayMs: 0, rotate: false, freshToken: true };
      return {
        retry: false,
        reason: 'token_expired',
        error: new ClientError('token_expired', 'the token has expired and no getToken was given'),
      };
    }
    // The server API closed the connection (`POST /v1/disconnect`): come back with the same token.
    // With `reconnect: false` the server revoked it first, so that attempt is refused
    // (`token_revoked`) and the loop stops there; otherwise the client is back, its rooms resumed.
    if (closing === 'disconnected') return { retry: true, delayMs: this.backoff(0), rotate: false };
    if (closing === undefined && outcome.reason === 'io server disconnect')
      return { retry: false, reason: outcome.reason };
    // The node is going away or the connection dropped: another node first, if there is one.
    return { retry: true, delayMs: this.backoff(0), rotate: several };
  }

  /** One socket, from creation until it fails to connect, or disconnects. */
  private session(url: string, token: string | undefined): Promise<Outcome> {
    return new Promise((resolve) => {
      const ns = this.settings.namespace === '/' ? '' : this.settings.namespace;
      const socket: RoomcastSocket = io(`${url.replace(/\/+$/, '')}${ns}`, {
        ...this.settings.socketOptions,
        auth: token === undefined ? {} : { token },
        reconnection: false,
        forceNew: true,
        autoConnect: false,
        timeout: this.settings.connectTimeoutMs,
      });
      let closing: { code: ClosingCode; message: string } | undefined;
      let done = false;
      const refresher = new Refresher(socket, {
        tokens: this.tokens,
        events: this.events,
        ackTimeoutMs: this.settings.ackTimeoutMs,
        revoked: (rooms) => this.hooks.revoked(rooms),
      });
      // The whole attempt, the namespace's CONNECT included: socket.io-client's `timeout` covers
      // only the Engine.IO handshake, and a node (or proxy) that stalls after it would hold the
      // client in `connecting` for good.
      const ms = this.settings.connectTimeoutMs;
      const attempt = setTimeout(() => {
        const error = new ClientError('unavailable', `no connection to ${url} within ${ms} ms`);
        finish({ kind: 'refused', code: undefined, error });
      }, ms);
      const finish = (outcome: Outcome) => {
        if (done) return;
        done = true;
        clearTimeout(attempt);
        refresher.stop();
        this.interrupt = null;
        socket.off();
        socket.disconnect();
        if (this.socket === socket) this.socket = null;
        resolve(outcome);
      };
      this.socket = socket;
      this.interrupt = () => finish({ kind: 'stopped' });
      socket.on('connect', () => {
        clearTimeout(attempt);
        this.everConnected = true;
        this.setState('connected');
        this.events.emit('connected', { url });
        this.hooks.connected(socket);
      });
      socket.on('connect_error', (err) => {
        const code = connectErrorCode(err);
        const message = (err as { data?: { message?: unknown } }).data?.message;
        const error = new ClientError(
          code ?? 'unavailable',
          typeof message === 'string' ? message : `cannot connect to ${url}: ${err.message}`,
          { cause: err },
        );
        finish({ kind: 'refused', code, error });
      });
      socket.on('closing', (info) => {
        closing = info;
        this.events.emit('closing', info);
      });
      socket.on('token_expiring', (info) => refresher.warned(info.expiresAt));
      socket.on('disconnect', (reason) =>
        finish(this.wanted ? { kind: 'ended', reason, closing } : { kind: 'stopped' }),
      );
      this.hooks.socket(socket);
      socket.connect();
    });
  }

  private setState(state: ConnectionState): void {
    if (this.state === state) return;
    this.state = state;
    this.events.emit('state', state);
    if (state === 'connecting') this.events.emit('connecting');
  }

  private backoff(attempt: number): number {
    const { reconnectionDelay: base, reconnectionDelayMax: max, randomizationFactor: jitter } = this.settings;
    const ms = Math.min(max, base * 2 ** Math.min(attempt, 30));
    const spread = ms * jitter * (Math.random() * 2 - 1);
    return Math.max(0, Math.min(max, Math.round(ms + spread)));
  }

  /**
   * A token on its way from `getToken`, within `connectTimeoutMs` (part of the attempt): one that
   * hangs is a `get_token_failed` (retried with backoff), and `stop()` meanwhile is not kept
   * waiting for it (the loop ends as soon as this returns).
   */
  private bounded(token: Promise<string | undefined>): Promise<string | undefined | typeof STOPPED> {
    const ms = this.settings.connectTimeoutMs;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        if (this.interrupt === stop) this.interrupt = null;
        this.tokens.abandon();
        reject(new ClientError('get_token_failed', `getToken() gave no token within ${ms} ms`));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        if (this.interrupt === stop) this.interrupt = null;
      };
      const stop = () => {
        done();
        resolve(STOPPED);
      };
      this.interrupt = stop;
      token.then(
        (t) => {
          done();
          resolve(t);
        },
        (err: unknown) => {
          done();
          reject(err);
        },
      );
    });
  }

  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.interrupt = () => {
        this.interrupt = null;
        done();
      };
    });
  }
}

/** What `bounded` answers when `stop()` came before the token. */
const STOPPED = Symbol('stopped');
