import { ClientError } from './errors.js';

/** Returns a user JWT: from your backend, a cookie session, local storage. */
export type GetToken = () => string | Promise<string>;

/** Tokens whose `exp` is this close are not worth a connection attempt; a fresh one is fetched. */
const EXPIRY_MARGIN_MS = 5_000;

/**
 * The token of one client: the `token` option first, then `getToken()` whenever a fresh one is
 * needed (no token yet, the current one has expired, the server warned with `token_expiring`, or
 * refused it with `token_expired`). Calls to `getToken` while one is running share its result.
 *
 * @example
 * const tokens = new TokenSource(undefined, () => fetch('/token').then((r) => r.text()));
 * const tok = await tokens.get(); // calls getToken once, then reuses the token until it expires
 */
export class TokenSource {
  private inflight: Promise<string> | undefined;
  /** Counts `getToken` calls (and abandoned ones): only the latest may set the token. */
  private calls = 0;

  constructor(
    private token: string | undefined,
    private readonly getToken: GetToken | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  /** True when a fresh token can be had (a `getToken` was given). */
  get renewable(): boolean {
    return this.getToken !== undefined;
  }

  /** The token to connect with: the current one while it is good, else a fresh one. */
  async get(): Promise<string | undefined> {
    if (this.token !== undefined && !this.expiresSoon(this.token)) return this.token;
    if (!this.getToken) return this.token;
    return this.fresh();
  }

  /**
   * The server refused the current token (invalid, revoked, expired): with a `getToken`, the next
   * connection asks it for another instead of sending this one again. Without one, it is kept:
   * there is nothing else to send.
   */
  refused(): void {
    if (this.getToken) this.token = undefined;
  }

  /** A `getToken` call that takes too long is given up: the next need calls it again. */
  abandon(): void {
    this.inflight = undefined;
    this.calls++;
  }

  /** A new token from `getToken`; rejects with a `get_token_failed` ClientError. */
  fresh(): Promise<string> {
    const getToken = this.getToken;
    if (!getToken) return Promise.reject(new ClientError('get_token_failed', 'no getToken option was given'));
    if (this.inflight) return this.inflight;
    const call = ++this.calls;
    const request = (async () => {
      try {
        const tok = await getToken();
        if (typeof tok !== 'string' || tok.length === 0)
          throw new ClientError('get_token_failed', 'getToken() returned no token');
        // Kept only while this call is the one asked for: one given up (`abandon`) that answers
        // late must not bring back a token after a newer one (perhaps refused since).
        if (call === this.calls) this.token = tok;
        return tok;
      } catch (err) {
        if (err instanceof ClientError) throw err;
        throw new ClientError('get_token_failed', 'getToken() failed', { cause: err });
      }
    })();
    this.inflight = request;
    const settle = () => {
      if (this.inflight === request) this.inflight = undefined;
    };
    request.then(settle, settle);
    return request;
  }

  private expiresSoon(token: string): boolean {
    const exp = expiryOf(token);
    return exp !== null && exp - EXPIRY_MARGIN_MS <= this.now();
  }
}

/**
 * The `exp` of a JWT in ms since the epoch, read without verifying (only the server verifies);
 * null when the token has none or is not a JWT.
 */
export function expiryOf(token: string): number | null {
  return timeClaim(token, 'exp');
}

/**
 * How long a JWT is valid for, `exp` - `iat` in ms (the issuer's clock for both, so this one's
 * skew does not enter); null when it lacks either.
 */
export function lifetimeOf(token: string): number | null {
  const exp = timeClaim(token, 'exp');
  const iat = timeClaim(token, 'iat');
  return exp === null || iat === null ? null : exp - iat;
}

function timeClaim(token: string, claim: 'exp' | 'iat'): number | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(
      payload
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(payload.length / 4) * 4, '='),
    );
    const value = (JSON.parse(json) as Record<string, unknown>)[claim];
    return typeof value === 'number' && Number.isFinite(value) ? value * 1000 : null;
  } catch {
    return null;
  }
}
