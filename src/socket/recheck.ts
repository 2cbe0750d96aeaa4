import { RoomcastError } from '../errors.js';
import type { UserClaims } from '../protocol.js';
import type { MaybePromise } from '../rooms/maybe.js';

/** A token a connection presented, as much of it as its revocation check needs. */
export interface TokenToCheck {
  claims: Pick<UserClaims, 'sub' | 'iat'>;
  hash: string;
}

/**
 * A connection whose newest token could not be checked for revocation (Redis away:
 * `POST /v1/disconnect { reconnect: false }` may have revoked it meanwhile). The newest token
 * speaks for the connection: a `refresh` replaces the one it holds.
 */
export interface Unchecked {
  /** The token to check; none once checked (the object goes at the connection's next check). */
  token?: TokenToCheck;
  /** The check in flight: every event of the connection waits for this one, so they keep their order. */
  pending?: Promise<boolean>;
  /** Checks again every RECHECK_MS, for a connection that sends no event. */
  timer?: NodeJS.Timeout;
}

/** A revocation check: throws `token_revoked`; false when it could not be made. */
type Check = (claims: TokenToCheck['claims'], hash: string) => MaybePromise<boolean>;

/** How a namespace checks a token and closes a revoked connection. */
export interface Recheck<S> {
  check: Check;
  onRevoked(socket: S): void;
}

/** The socket as the recheck sees it. */
export interface CheckedSocket {
  readonly connected: boolean;
  readonly data: { unchecked?: Unchecked };
}

/** How often an unchecked connection is checked again without an event of its own. */
export const RECHECK_MS = 5000;

/** Events that run with a token still unchecked: they give the connection nothing it did not have. */
const RUN_UNCHECKED: ReadonlySet<string> = new Set(['leave', 'refresh']);

/**
 * Marks `token` (now the connection's newest) as not checked: it is checked before the
 * connection's next event, and every RECHECK_MS until then.
 *
 * @example
 * if (!(await check(claims, hash))) markUnchecked(socket, { claims, hash }, recheck);
 */
export function markUnchecked<S extends CheckedSocket>(
  socket: S,
  token: TokenToCheck,
  how: Recheck<S>,
): void {
  socket.data.unchecked ??= {};
  socket.data.unchecked.token = {
    claims: { sub: token.claims.sub, iat: token.claims.iat },
    hash: token.hash,
  };
  // A connection still being admitted gets its timer once accepted (startRecheck).
  if (socket.connected) startRecheck(socket, how);
}

/** Starts the timed recheck of a connection with an unchecked token, unless it runs already. */
export function startRecheck<S extends CheckedSocket>(socket: S, how: Recheck<S>): void {
  const unchecked = socket.data.unchecked;
  if (unchecked && !unchecked.timer) schedule(socket, unchecked, how);
}

/** Stops the timed recheck (the connection closed). */
export function stopRecheck(socket: CheckedSocket): void {
  clearTimeout(socket.data.unchecked?.timer);
}

/** A token of the user's was checked and is not revoked: it speaks for the connection. */
export function markChecked(socket: CheckedSocket): void {
  // The object stays until the next check ends it, so events waiting on one in flight keep their order.
  if (socket.data.unchecked) socket.data.unchecked.token = undefined;
}

/**
 * Runs one event of a connection with an unchecked token once the token is checked. The events of
 * the connection wait for one check, in the order they came; a token a `refresh` brought meanwhile
 * is checked too. A revoked token rejects with `token_revoked`, and `onRevoked` closes the
 * connection once that is acked. A check that still cannot be made fails the event with
 * `unavailable`, except `leave` and `refresh`. An event whose connection closed while it waited is
 * not run: a `join` run then would leave a member behind that no `disconnect` removes.
 *
 * @example
 * const reply = socket.data.unchecked
 *   ? checkedFirst(socket, recheck, event, () => handle(payload, socket))
 *   : handle(payload, socket);
 */
export async function checkedFirst<S extends CheckedSocket>(
  socket: S,
  how: Recheck<S>,
  event: string,
  run: () => object | Promise<object>,
): Promise<object> {
  let made: boolean;
  try {
    made = await ensureChecked(socket, how.check);
  } catch (err) {
    // After the event's failure is acked (the ack goes out in this turn of the loop).
    if (isRevoked(err)) setImmediate(() => how.onRevoked(socket));
    throw err;
  }
  if (!socket.connected)
    throw new RoomcastError('unavailable', 'the connection closed while its token was being checked');
  if (!made && !RUN_UNCHECKED.has(event))
    throw new RoomcastError(
      'unavailable',
      "this connection's token could not be checked for revocation yet (Redis is unreachable); try again",
    );
  return run();
}

/** Checks the connection's token (and any that replaced it meanwhile): true once none is left unchecked. */
async function ensureChecked(socket: CheckedSocket, check: Check): Promise<boolean> {
  for (;;) {
    const unchecked = socket.data.unchecked;
    if (!unchecked) return true;
    if (!unchecked.pending) {
      const token = unchecked.token;
      if (!token) {
        socket.data.unchecked = undefined;
        clearTimeout(unchecked.timer);
        return true;
      }
      unchecked.pending = checkOne(unchecked, token, check);
    }
    if (!(await unchecked.pending)) {
      // Not made; but a refresh's own check may have passed meanwhile (no token left): done then.
      if (socket.data.unchecked === unchecked && !unchecked.token) continue;
      return false;
    }
  }
}

function checkOne(unchecked: Unchecked, token: TokenToCheck, check: Check): Promise<boolean> {
  return Promise.resolve()
    .then(() => check(token.claims, token.hash))
    .then(
      (made) => {
        unchecked.pending = undefined;
        if (made && unchecked.token === token) unchecked.token = undefined;
        return made;
      },
      (err: unknown) => {
        unchecked.pending = undefined;
        throw err;
      },
    );
}

function schedule<S extends CheckedSocket>(socket: S, unchecked: Unchecked, how: Recheck<S>): void {
  clearTimeout(unchecked.timer);
  unchecked.timer = setTimeout(() => {
    if (!socket.connected || socket.data.unchecked !== unchecked) return;
    const again = () => {
      if (socket.connected && socket.data.unchecked === unchecked) schedule(socket, unchecked, how);
    };
    ensureChecked(socket, how.check).then(
      (made) => {
        if (!made) again();
      },
      (err: unknown) => {
        // After any event waiting on the same check has acked its `token_revoked`.
        if (isRevoked(err)) setImmediate(() => how.onRevoked(socket));
        else again();
      },
    );
  }, RECHECK_MS);
  unchecked.timer.unref();
}

function isRevoked(err: unknown): boolean {
  return err instanceof RoomcastError && err.code === 'token_revoked';
}
