import { ack, type RoomcastSocket } from './ack.js';
import type { Emitter } from './emitter.js';
import { ClientError } from './errors.js';
import { lifetimeOf, type TokenSource } from './token.js';
import type { ClientEvents } from './types.js';

/** The shortest time between two refreshes of one connection. */
const MIN_REFRESH_GAP_MS = 1000;

/**
 * The token refreshes of one connection: on `token_expiring`, a fresh token from `getToken`, sent
 * with `refresh`. The server warns as soon as a token has less left than its warning lead, so a
 * refreshed token that is short too (a cached token, tokens shorter than the lead) is warned of
 * again at once. After a refresh the next one waits until half of what the new token had left has
 * passed (at least `MIN_REFRESH_GAP_MS`): a warning that comes sooner is acted on then, not in a
 * loop of `getToken` calls, and a warning during a refresh is acted on after it. A token that runs
 * out first is closed with `token_expired`, and the client connects again with a fresh one.
 *
 * @example
 * const refresher = new Refresher(socket, { tokens, events, ackTimeoutMs: 10_000, revoked: (rooms) => leave(rooms) });
 * socket.on('token_expiring', ({ expiresAt }) => refresher.warned(expiresAt));
 * socket.on('disconnect', () => refresher.stop());
 */
export class Refresher {
  private busy = false;
  /** A warning came while `busy`. */
  private pending = false;
  /** No refresh before this time (ms since epoch). */
  private notBefore = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;

  constructor(
    private readonly socket: RoomcastSocket,
    private readonly deps: {
      tokens: TokenSource;
      events: Emitter<ClientEvents>;
      ackTimeoutMs: number;
      /** A refreshed token no longer allows these rooms: the server left them. */
      revoked(rooms: readonly string[]): void;
    },
  ) {}

  /** `token_expiring`: reported, then a refresh now or when the last one allows. */
  warned(expiresAt: number): void {
    this.deps.events.emit('token_expiring', { expiresAt });
    if (!this.deps.tokens.renewable) return;
    if (this.busy) this.pending = true;
    else this.whenAllowed();
  }

  /** The connection is over: no refresh after this. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private whenAllowed(): void {
    if (this.timer || this.stopped) return;
    const wait = this.notBefore - Date.now();
    if (wait <= 0) return void this.refresh();
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.refresh();
    }, wait);
  }

  private async refresh(): Promise<void> {
    this.busy = true;
    try {
      let token: string;
      try {
        token = await this.deps.tokens.fresh();
      } catch (err) {
        if (err instanceof ClientError) this.deps.events.emit('error', err);
        return;
      }
      const reply = await ack(this.socket, 'refresh', { token }, this.deps.ackTimeoutMs);
      if (reply.ok) {
        // What the token has left: the server's `expiresAt` against this clock, and no more than
        // the token's own lifetime (`exp` - `iat`), which a clock running late cannot stretch.
        const now = Date.now();
        const byClock = typeof reply.expiresAt === 'number' ? reply.expiresAt - now : 0;
        const left = Math.min(byClock, lifetimeOf(token) ?? Number.POSITIVE_INFINITY);
        this.notBefore = now + Math.max(MIN_REFRESH_GAP_MS, left / 2);
        if (Array.isArray(reply.left) && reply.left.length > 0) this.deps.revoked(reply.left);
        this.deps.events.emit('token_refreshed', { expiresAt: reply.expiresAt });
      } else if (reply.error.code !== 'disconnected') this.deps.events.emit('error', reply.error);
    } finally {
      this.busy = false;
      if (this.pending) {
        this.pending = false;
        this.whenAllowed();
      }
    }
  }
}
