import { RoomcastError } from '../errors.js';
import type { Engine } from '../rooms/engine.js';
import { attempt } from '../rooms/maybe.js';

/**
 * The room that counts each user's connections (sockets and SSE streams) in a namespace, through
 * the engine's presence (cluster-wide in cluster mode, with a dead node's entries reaped like any
 * membership). `#` is not a room-name character, so no client can join or list it.
 */
export const CONNECTIONS_ROOM = '#connections';

/**
 * `namespaces.<ns>.limits.connectionsPerUser`: counts one more connection of `sub`, and refuses it
 * with `too_many_connections` when that makes more than `limit` (added first, then counted, so two
 * connections racing for the last place cannot both get it). When the count cannot be made (Redis
 * away) the connection is let in and logged: a Redis outage never keeps clients out. Returns the
 * release to call when the connection ends.
 *
 * @example
 * const release = await admitUser(engine, '/', 'alice', socket.id, 5, log);
 * socket.once('disconnect', release);
 */
export async function admitUser(
  engine: Pick<Engine, 'addMember' | 'removeMember' | 'memberConnections'>,
  ns: string,
  sub: string,
  connId: string,
  limit: number,
  log: { warn(obj: object, msg: string): void },
): Promise<() => void> {
  const release = () =>
    void attempt(
      () => engine.removeMember(ns, CONNECTIONS_ROOM, sub, connId),
      () => false,
    );
  let count: number;
  try {
    await engine.addMember(ns, CONNECTIONS_ROOM, { sub, info: null }, connId);
    count = await engine.memberConnections(ns, CONNECTIONS_ROOM, sub);
  } catch (err) {
    log.warn({ err, sub }, 'connections per user could not be counted; connection let in');
    return release;
  }
  if (count > limit) {
    release();
    throw new RoomcastError(
      'too_many_connections',
      `at most ${limit} connections per user in this namespace`,
    );
  }
  return release;
}

/**
 * `limits.maxConnections`: throws `unavailable` when this node already holds `max` connections
 * (Engine.IO connections and SSE streams; `open` counts the one asking too).
 */
export function admitToNode(open: number, max: number | null): void {
  if (max !== null && open > max)
    throw new RoomcastError('unavailable', `this node is full (limits.maxConnections ${max}); try another`);
}
