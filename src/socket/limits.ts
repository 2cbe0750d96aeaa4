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

/** An Engine.IO connection as the handshake count sees it. */
export interface EngineConn {
  readonly readyState: string;
}

/**
 * The Engine.IO connections of one server that are a handshake and nothing more: no namespace has
 * taken them (Socket.IO closes them after `connectTimeout`). `limits.maxConnections` counts the
 * others, so that a flood of bare handshakes, which no token is needed for, does not lock every
 * client with a token out; a connection being admitted counts already, so concurrent admissions
 * cannot pass the limit together.
 *
 * No listener on the connection: one more `close` listener grows its listener list for good
 * (about 140 B per connection, measured). A connection leaves when a namespace takes it; one
 * that closed first is found closed by `prune`: each new handshake and admission checks a few,
 * going round all of them, and an admission whose answer the handshakes decide checks them all.
 */
class Handshakes {
  /** Connection → how many of its namespace admissions are running (0: a handshake only). */
  private readonly conns = new Map<EngineConn, number>();
  /** Where `prune(count)` goes on from. */
  private cursor: MapIterator<EngineConn> | undefined;
  /** How many are handshakes only (no admission running). */
  waiting = 0;

  add(conn: EngineConn): void {
    this.prune(4);
    this.conns.set(conn, 0);
    this.waiting++;
  }

  isWaiting(conn: EngineConn): boolean {
    return this.conns.get(conn) === 0;
  }

  admitting(conn: EngineConn): void {
    const running = this.conns.get(conn);
    if (running === undefined) return;
    this.conns.set(conn, running + 1);
    if (running === 0) this.waiting--;
  }

  /** One admission of `conn` was refused; with none left running it is a handshake again. */
  refused(conn: EngineConn): void {
    const running = this.conns.get(conn);
    if (running === undefined || running === 0) return;
    if (conn.readyState === 'closed') {
      // Gone meanwhile: it counts nowhere any more.
      this.conns.delete(conn);
      return;
    }
    this.conns.set(conn, running - 1);
    if (running === 1) this.waiting++;
  }

  /** A namespace took it: it is a connection now. */
  connected(conn: EngineConn): void {
    const running = this.conns.get(conn);
    if (running === undefined) return;
    this.conns.delete(conn);
    if (running === 0) this.waiting--;
  }

  /**
   * Drops closed connections. Checks the next `count` entries from where the last call stopped,
   * going round all of them; with no count, all of them. The place is a live iterator over the map
   * (a Map's iterator carries on past deletions and reaches entries added after it), so an open
   * connection is checked where it is, not deleted and added again: in a storm of thousands of
   * handshakes, moving each one checked to the back made the map rehash over and over.
   */
  prune(count = Number.POSITIVE_INFINITY): void {
    if (count === Number.POSITIVE_INFINITY) {
      for (const [conn, running] of this.conns) this.dropIfClosed(conn, running);
      return;
    }
    for (let checked = 0; checked < count && this.conns.size > 0; checked++) {
      this.cursor ??= this.conns.keys();
      const next = this.cursor.next();
      if (next.done) {
        this.cursor = undefined; // round again from the oldest (counted as a check: no endless loop)
        continue;
      }
      this.dropIfClosed(next.value, this.conns.get(next.value) ?? 0);
    }
  }

  private dropIfClosed(conn: EngineConn, running: number): void {
    if (conn.readyState !== 'closed') return;
    this.conns.delete(conn);
    if (running === 0) this.waiting--;
  }
}

/** What the handshake count needs of a Socket.IO server: its engine's new connections. */
interface EngineOf {
  readonly engine: { on(event: 'connection', listener: (conn: EngineConn) => void): unknown };
}

const handshakes = new WeakMap<EngineOf, Handshakes>();

/** The handshake count of `io`; watches from the first call on: call it at startup. */
export function handshakesOf(io: EngineOf): Handshakes {
  let tracker = handshakes.get(io);
  if (!tracker) {
    const made = new Handshakes();
    io.engine.on('connection', (conn: EngineConn) => made.add(conn));
    tracker = made;
    handshakes.set(io, made);
  }
  return tracker;
}
