import type { Logger } from 'pino';
import { clusterKeys, roomKeys } from './redis-keys.js';
import type { ScriptedRedis } from './redis-scripts.js';

/** One connection's membership of one room, as the node that holds the connection keeps it. */
export interface LocalMember {
  ns: string;
  room: string;
  connId: string;
  sub: string;
  info: unknown;
}

/** The users a removal left with no connection in a room: `[sub, info JSON, sub, info JSON, ...]`. */
export interface RoomLeaves {
  ns: string;
  room: string;
  gone: string[];
}

export interface MembershipOptions {
  prefix: string;
  /** A Redis Cluster: a room's script touches its own keys only (see PresenceOptions.cluster). */
  cluster?: boolean;
  log: Pick<Logger, 'debug'>;
}

/**
 * The Redis writes of memberships: a connection into a room, out of it, and the rooms index. On one
 * Redis each is one script. On a Redis Cluster the room's script is one step and the node's set
 * and the rooms index (other slots) are commands of their own; once the room's script has run, the
 * join or leave stands whatever happens next, and a failure of the commands after it only calls
 * `tidyLater` (the presence then reconciles at its next heartbeat).
 *
 * @example
 * const memberships = new Memberships(redis, { prefix: 'roomcast', cluster: true, log }, () => { reconcile = true; });
 * const first = (await memberships.add(node, { ns: '/', room: 'chat:1', connId, sub: 'alice', info: null })) === 1;
 */
export class Memberships {
  private readonly keys: ReturnType<typeof clusterKeys>;

  constructor(
    private readonly redis: ScriptedRedis,
    private readonly opts: MembershipOptions,
    private readonly tidyLater: () => void,
  ) {
    this.keys = clusterKeys(opts.prefix);
  }

  /** The set of `node`'s memberships (`P:node:<id>`). */
  nodeKey(node: string): string {
    return this.keys.node(node);
  }

  /** Registers one connection of `node`: 1 for the user's first in the room, -1 when it was there, else 0. */
  async add(node: string, m: LocalMember): Promise<number> {
    const k = roomKeys(this.opts.prefix, m.ns, m.room);
    const info = JSON.stringify(m.info ?? null);
    const field = `${node}|${m.connId}`;
    const id = memberId(m.ns, m.room, m.connId);
    if (!this.opts.cluster) {
      const keys = [k.connections, k.users, k.info, this.keys.rooms(m.ns), this.nodeKey(node)] as const;
      return this.redis.rcAdd(...keys, field, m.sub, info, m.room, id);
    }
    await this.redis.sadd(this.nodeKey(node), id);
    const ret = await this.redis.rcAddRoom(k.connections, k.users, k.info, field, m.sub, info);
    if (ret === -1) return ret;
    // The room has the member now: the join stands (and its event is owed) whatever happens
    // next. The rooms index is on another shard; a failed ZADD is redone by the reconcile.
    try {
      await this.redis.zadd(this.keys.rooms(m.ns), 0, m.room);
    } catch (err) {
      this.tidyLater();
      this.opts.log.debug(
        { err, room: m.room },
        'presence: joined the room, it is indexed at the next heartbeat',
      );
    }
    return ret;
  }

  /**
   * Removes connections of `node` from one room; `pairs` alternate field and node-set member.
   * Returns {sub, info, ...} for each user left with none.
   */
  async remove(node: string, ns: string, room: string, pairs: string[]): Promise<string[]> {
    const k = roomKeys(this.opts.prefix, ns, room);
    const rooms = this.keys.rooms(ns);
    if (!this.opts.cluster) {
      return this.redis.rcRemove(k.connections, k.users, k.info, rooms, this.nodeKey(node), room, ...pairs);
    }
    const fields = pairs.filter((_, i) => i % 2 === 0);
    const ids = pairs.filter((_, i) => i % 2 === 1);
    const [empty, ...gone] = await this.redis.rcRemoveRoom(k.connections, k.users, k.info, ...fields);
    // The room no longer has them: the leaves are owed whatever happens next. What follows tidies
    // indexes on other shards. A failed SREM is redone by the next heartbeat's reconcile (it finds
    // the ids still in the node's set and removes them from the room again, a no-op). An empty
    // room left in the rooms index is not listed (readRooms skips rooms with no members).
    try {
      await this.redis.srem(this.nodeKey(node), ...ids);
      if (Number(empty) === 1) {
        await this.redis.zrem(rooms, room);
        // A join on another node may have indexed the room between our script and the ZREM.
        if ((await this.redis.hlen(k.users)) > 0) await this.redis.zadd(rooms, 0, room);
      }
    } catch (err) {
      this.tidyLater();
      this.opts.log.debug(
        { err, room },
        'presence: left the room, its indexes are tidied at the next heartbeat',
      );
    }
    return gone;
  }

  /** Removes memberships of `node`, one removal per room, all sent together; the leaves per room. */
  removeAll(node: string, ids: string[]): Promise<RoomLeaves[]> {
    const byRoom = new Map<string, { ns: string; room: string; args: string[] }>();
    for (const id of ids) {
      const parsed = parseMemberId(id);
      if (!parsed) continue;
      const key = JSON.stringify([parsed.ns, parsed.room]);
      const entry = byRoom.get(key) ?? { ns: parsed.ns, room: parsed.room, args: [] };
      byRoom.set(key, entry);
      entry.args.push(`${node}|${parsed.connId}`, id);
    }
    return Promise.all(
      [...byRoom.values()].map(async ({ ns, room, args }) => ({
        ns,
        room,
        gone: await this.remove(node, ns, room, args),
      })),
    );
  }

  /**
   * On a Redis Cluster, puts every room of `members` into its namespace's rooms index (a join's
   * index write is a command of its own there, on another shard, and may have failed after the
   * room's). A failure only calls `tidyLater`: the index lists rooms, it is not a reason to be
   * unready. One Redis keeps the index in the join's own script, so there is nothing to do.
   */
  async index(members: Iterable<LocalMember>): Promise<void> {
    if (!this.opts.cluster) return;
    const byNs = new Map<string, Set<string>>();
    for (const m of members) {
      const rooms = byNs.get(m.ns) ?? new Set<string>();
      byNs.set(m.ns, rooms.add(m.room));
    }
    try {
      // In commands of at most 1,000 rooms, so that a node in very many rooms does not stall Redis.
      const writes: Promise<unknown>[] = [];
      for (const [ns, set] of byNs) {
        const rooms = [...set];
        for (let i = 0; i < rooms.length; i += 1000) {
          writes.push(
            this.redis.zadd(this.keys.rooms(ns), ...rooms.slice(i, i + 1000).flatMap((r) => [0, r])),
          );
        }
      }
      await Promise.all(writes);
    } catch (err) {
      this.tidyLater();
      this.opts.log.debug({ err }, 'presence: the rooms index could not be repaired; trying again');
    }
  }
}

/** A membership's id in its node's set: namespace, room and connection, as JSON. */
export function memberId(ns: string, room: string, connId: string): string {
  return JSON.stringify([ns, room, connId]);
}

function parseMemberId(id: string): { ns: string; room: string; connId: string } | null {
  try {
    const [ns, room, connId] = JSON.parse(id) as unknown[];
    if (typeof ns === 'string' && typeof room === 'string' && typeof connId === 'string')
      return { ns, room, connId };
  } catch {
    // A foreign value in our key space: skip it.
  }
  return null;
}
