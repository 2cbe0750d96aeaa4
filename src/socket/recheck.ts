import { RoomcastError } from '../errors.js';
import type { UserClaims } from '../protocol.js';
import type { MaybePromise } from '../rooms/maybe.js';

/** A token a connection presented, as much of it as its revocation check needs. */
export interface TokenToCheck {
  claims: Pick<UserClaims, 'sub' | 'iat'>;
  hash: string;
}

/**
 * The tokens a connection was let in or refreshed with while their revocation could not be checked
 * (Redis away: `POST /v1/disconnect { reconnect: false }` may have revoked them meanwhile).
 */
export interface Unchecked {
  tokens: TokenToCheck[];
  /** The check in flight: every event of the connection waits for this one, so they keep their order. */
  pending?: Promise<boolean>;
}

/** Adds a token whose check could not be made to the connection's unchecked ones. */
export function markUnchecked(data: { unchecked?: Unchecked }, token: TokenToCheck): void {
  data.unchecked ??= { tokens: [] };
  data.unchecked.tokens.push({ claims: { sub: token.claims.sub, iat: token.claims.iat }, hash: token.hash });
}

/** Events that run with tokens still unchecked: they give the connection nothing. */
const RUN_UNCHECKED: ReadonlySet<string> = new Set(['leave', 'refresh']);

/** What a recheck needs: the namespace's revocation check (false when it could not be made). */
export type RevocationCheck = (claims: TokenToCheck['claims'], hash: string) => MaybePromise<boolean>;

/** The socket as the recheck sees it. */
export interface CheckedSocket {
  readonly connected: boolean;
  readonly data: { unchecked?: Unchecked };
}

/**
 * Runs one event of a connection with unchecked tokens once they are checked. The events of the
 * connection wait for one check, in the order they came. A revoked token rejects with
 * `token_revoked`, and `onRevoked` closes the connection once that is acked. A check that still cannot be
 * made fails the event with `unavailable`, except `leave` and `refresh`, and is made again at the
 * next event. An event whose connection closed while it waited is not run: a `join` run then would
 * leave a member behind that no `disconnect` removes.
 *
 * @example
 * const reply = socket.data.unchecked
 *   ? checkedFirst(socket, check, event, () => handle(payload, socket), (s) => closeConnection(s, 'disconnected', why))
 *   : handle(payload, socket);
 */
export async function checkedFirst<S extends CheckedSocket>(
  socket: S,
  check: RevocationCheck,
  event: string,
  run: () => object | Promise<object>,
  onRevoked: (socket: S) => void,
): Promise<object> {
  const unchecked = socket.data.unchecked;
  let made = true;
  try {
    if (unchecked) {
      unchecked.pending ??= checkAll(socket, check, unchecked);
      made = await unchecked.pending;
    }
  } catch (err) {
    // After the event's failure is acked (the ack goes out in this turn of the loop).
    if (err instanceof RoomcastError && err.code === 'token_revoked') setImmediate(() => onRevoked(socket));
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

function checkAll(socket: CheckedSocket, check: RevocationCheck, unchecked: Unchecked): Promise<boolean> {
  const tokens = unchecked.tokens.slice();
  return Promise.all(tokens.map((t) => Promise.resolve().then(() => check(t.claims, t.hash)))).then(
    (made) => {
      unchecked.pending = undefined;
      if (!made.every(Boolean)) return false;
      // A token a `refresh` added while this check was out is checked at the next event.
      unchecked.tokens = unchecked.tokens.filter((t) => !tokens.includes(t));
      if (unchecked.tokens.length === 0 && socket.data.unchecked === unchecked)
        socket.data.unchecked = undefined;
      return true;
    },
    (err: unknown) => {
      unchecked.pending = undefined;
      throw err;
    },
  );
}
