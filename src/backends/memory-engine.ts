import type { Member, RoomStat, StreamPosition } from '../protocol.js';
import {
  type DeliverySink,
  type Draft,
  type Engine,
  type HistoryPolicy,
  type HistoryQuery,
  type HistoryResult,
  type MemberRef,
  type Published,
  selectHistory,
  toEnvelope,
} from '../rooms/engine.js';
import { holdsBinary } from '../rooms/payload.js';
import { RevocationList } from '../rooms/revocations.js';
import { newEpoch } from './epoch.js';
import { RoomHistory } from './memory-history.js';

/**
 * One user in a room: the id of its one connection there, or a set of them once it has more. Most
 * users have one connection per room, and a set for it cost about 150 bytes per membership.
 */
interface MemberEntry {
  info: unknown;
  conns: string | Set<string>;
}

const connectionCount = (m: MemberEntry): number => (typeof m.conns === 'string' ? 1 : m.conns.size);

interface RoomState {
  epoch: string;
  offset: number;
  history: RoomHistory;
  members: Map<string, MemberEntry>;
  lastUsed: number;
  /** The policy of the last publish, so the sweep can drop expired history of rooms nobody reads. */
  policy?: HistoryPolicy;
}

/** How long a room with no members and no history keeps its offset before it is forgotten. */
const IDLE_ROOM_MS = 10 * 60 * 1000;

/**
 * The one-node engine: everything in this process's memory. A fresh process starts every room
 * with a new epoch, so clients can tell its offsets from an earlier run's.
 *
 * @example
 * const engine = createMemoryEngine();
 * const env = await engine.publish('/', draft, { size: 100, ttlMs: 300_000 });
 */
export function createMemoryEngine(sink: DeliverySink, now: () => number = Date.now): Engine {
  /** Rooms by namespace, then by name: no joined key to build and hash on every publish. */
  const spaces = new Map<string, Map<string, RoomState>>();
  const revoked = new RevocationList(Number.POSITIVE_INFINITY, now);
  /** Idempotency keys of publishes: `ns, key` -> the first result and its room. */
  const published = new Map<string, StreamPosition & { room: string; expires: number }>();
  const key = (ns: string, room: string) => `${ns}\u0000${room}`;

  function existing(ns: string, name: string): RoomState | undefined {
    return spaces.get(ns)?.get(name);
  }

  function room(ns: string, name: string): RoomState {
    let space = spaces.get(ns);
    if (!space) {
      space = new Map();
      spaces.set(ns, space);
    }
    let state = space.get(name);
    if (!state) {
      state = {
        epoch: newEpoch(),
        offset: 0,
        history: new RoomHistory(),
        members: new Map(),
        lastUsed: now(),
      };
      space.set(name, state);
    }
    state.lastUsed = now();
    return state;
  }

  function trim(state: RoomState, policy: HistoryPolicy): void {
    state.history.trim(policy.size, policy.ttlMs > 0 ? now() - policy.ttlMs : Number.NEGATIVE_INFINITY);
  }

  const sweep = setInterval(() => {
    const cutoff = now() - IDLE_ROOM_MS;
    for (const space of spaces.values())
      for (const [name, s] of space) {
        if (s.policy) trim(s, s.policy);
        if (s.members.size === 0 && s.history.length === 0 && s.lastUsed < cutoff) space.delete(name);
      }
    const t = now();
    for (const [k, p] of published) if (p.expires < t) published.delete(k);
    revoked.sweep();
  }, 60_000);
  sweep.unref();

  return {
    kind: 'memory',
    // Not async: everything here happens now (see Engine.publish).
    publish(ns, draft: Draft, policy, opts = {}): Published {
      const idem = opts.idempotencyKey ? key(ns, opts.idempotencyKey) : undefined;
      const first = idem ? published.get(idem) : undefined;
      if (first && first.expires > now())
        return { offset: first.offset, epoch: first.epoch, duplicate: true, room: first.room };
      const state = room(ns, draft.room);
      // The payload's JSON first: a history's offsets are implied (it ends at the room's offset), so
      // nothing may throw between taking the offset and storing the message.
      const keep = policy.size > 0;
      const binary = keep && (opts.binary ?? holdsBinary(draft.data));
      const json = keep && !binary ? (opts.dataJson ?? JSON.stringify(draft.data)) : undefined;
      const envelope = toEnvelope(draft, ++state.offset, state.epoch);
      state.policy = policy;
      if (keep) state.history.push(draft, json, policy.size);
      else state.history.trim(0, Number.NEGATIVE_INFINITY); // nothing kept: none may be left before it
      if (idem) {
        const expires = now() + (opts.idempotencyWindowMs ?? 0);
        published.set(idem, { offset: envelope.offset, epoch: envelope.epoch, room: draft.room, expires });
      }
      sink.message(ns, envelope, opts.exceptConnId);
      return { offset: envelope.offset, epoch: envelope.epoch, duplicate: false };
    },
    // Not async, as the rest of what a join, a leave and a connect call (see Engine).
    history(ns, name, query: HistoryQuery, policy): HistoryResult {
      const found = existing(ns, name);
      if (!found && !query.create) return selectHistory([], { offset: 0, epoch: '' }, query);
      const state = found ?? room(ns, name);
      trim(state, policy);
      return state.history.select(name, { offset: state.offset, epoch: state.epoch }, query);
    },
    addMember(ns, name, member: MemberRef, connId) {
      const state = room(ns, name);
      const entry = state.members.get(member.sub);
      if (!entry) {
        state.members.set(member.sub, { info: member.info, conns: connId });
        return true;
      }
      if (typeof entry.conns !== 'string') entry.conns.add(connId);
      else if (entry.conns !== connId) entry.conns = new Set([entry.conns, connId]);
      return false;
    },
    removeMember(ns, name, sub, connId) {
      const state = existing(ns, name);
      const entry = state?.members.get(sub);
      if (!state || !entry) return false;
      if (typeof entry.conns === 'string') {
        if (entry.conns !== connId) return false;
      } else if (!entry.conns.delete(connId) || entry.conns.size > 0) return false;
      state.members.delete(sub);
      return true;
    },
    async memberConnections(ns, name, sub) {
      const entry = existing(ns, name)?.members.get(sub);
      return entry ? connectionCount(entry) : 0;
    },
    async members(ns, name): Promise<Member[]> {
      const state = existing(ns, name);
      if (!state) return [];
      return [...state.members].map(([sub, m]) => ({ sub, info: m.info, connections: connectionCount(m) }));
    },
    async room(ns, name): Promise<RoomStat> {
      const state = existing(ns, name);
      let connections = 0;
      for (const m of state?.members.values() ?? []) connections += connectionCount(m);
      return { room: name, members: state?.members.size ?? 0, connections };
    },
    async rooms(ns, prefix): Promise<RoomStat[]> {
      const out: RoomStat[] = [];
      for (const [name, s] of spaces.get(ns) ?? []) {
        if (s.members.size === 0) continue;
        // Rooms of roomcast's own (`#…`, a name no client can use) are not listed.
        if (name.startsWith('#')) continue;
        if (!name.startsWith(prefix)) continue;
        let connections = 0;
        for (const m of s.members.values()) connections += connectionCount(m);
        out.push({ room: name, members: s.members.size, connections });
      }
      return out.sort((a, b) => (a.room < b.room ? -1 : 1));
    },
    async revoke(ns, sub, rule, ttlMs) {
      revoked.add(ns, sub, rule, ttlMs);
    },
    isRevoked(ns, sub, iat, tokenHash) {
      return revoked.has(ns, sub, iat, tokenHash);
    },
    announce(ns, event, exceptConnId) {
      sink.presence(ns, event, exceptConnId);
    },
    // One node: every room's messages are here already.
    watch: () => undefined,
    unwatch: () => undefined,
    isReady: () => true,
    async close() {
      clearInterval(sweep);
    },
  };
}
