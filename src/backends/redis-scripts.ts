import { createHash } from 'node:crypto';
import { type ChainableCommander, type Cluster, Command, type Redis } from 'ioredis';

/**
 * The Lua scripts of the Redis engine. Each one is a single atomic step, sent as EVALSHA: the
 * publish as a `PlainScript` (EVAL once after NOSCRIPT), the others through ioredis
 * `defineCommand` (EVAL the first time on a connection, and again after NOSCRIPT). The keys they
 * touch are built in redis-keys.ts; the layout of history items and channel messages is in
 * redis-codec.ts.
 */

/** Redis's clock in ms, so node clocks never decide who is alive. */
const NOW = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

/**
 * Reads the room's epoch, starting a new one (and dropping stale history) when it is gone.
 *
 * With `ARGV[check] == '1'` (Sentinel and Redis Cluster, where the primary can change) it also
 * starts a new epoch when this primary may lack writes that another primary acknowledged:
 * replication is asynchronous, so a promoted replica may miss the last messages, and continuing
 * the epoch would give one offset to two messages. The stream hash keeps `r`, the replication ID
 * of the primary that last wrote it. A promotion gives the new primary a new replication ID and
 * keeps the old one as `master_replid2`; a restart gives a new ID and no `master_replid2`. So
 * whenever `r` differs, this primary cannot show that it holds the room's last writes, and the
 * room starts a new epoch (clients get `recovered: false`). That includes cases that lose nothing
 * (a primary restarted from its own AOF, a slot migrated from a primary that was never promoted):
 * a needless reload, once. Keeping the epoch when this primary was not promoted itself was wrong:
 * a promoted primary that restarts, or a slot that migrates off it, before the room is touched
 * again carries the promotion's losses with no trace of the promotion left, and the next publish
 * reused the lost offsets. A stream without `r` (written before 0.2, or in URL mode) adopts the
 * current one.
 *
 * One change of ID loses nothing: a primary with no replication backlog (restarted without data,
 * or whose replicas were away past `repl-backlog-ttl`) makes one, with a new ID and no
 * `master_replid2`, when a replica attaches. Counting that as a failover started a second epoch
 * a second after such a restart and deleted the messages acknowledged in between, which nodes
 * still resubscribing then never got. So the stream also keeps `n`, the `run_id` of the process
 * that wrote `r`: the same process, with no `master_replid2` (never promoted since, or its
 * promotion as far back as its backlog), wrote the room's last writes itself, and the stream
 * adopts the new ID. (Left: a process demoted and promoted again that then went without replicas
 * past the backlog TTL before the room was written again.)
 */
const EPOCH = (check: number) => `local epoch = redis.call('HGET', KEYS[1], 'e')
local rid, run = false, false
if ARGV[${check}] == '1' then
  local info = redis.call('INFO', 'replication')
  rid = string.match(info, 'master_replid:(%w+)')
  local r = redis.call('HGET', KEYS[1], 'r')
  if epoch and r ~= rid then
    run = string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
    local rid2 = string.match(info, 'master_replid2:(%w+)')
    if not r or (redis.call('HGET', KEYS[1], 'n') == run and rid2 == string.rep('0', 40)) then
      redis.call('HSET', KEYS[1], 'r', rid, 'n', run)
    else
      epoch = false
    end
  end
end
if not epoch then
  epoch = ARGV[1]
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[1], 'e', epoch, 'o', 0)
  if rid then
    run = run or string.match(redis.call('INFO', 'server'), 'run_id:(%w+)')
    redis.call('HSET', KEYS[1], 'r', rid, 'n', run)
  end
end`;

/**
 * KEYS s h k (k: the idempotency key, or s again when there is none); ARGV epoch, size, ttlMs, ts,
 * idleMs, packed draft, publish command (SPUBLISH or PUBLISH), channel, except, idempotency window
 * in ms (0: no key), failover check ('1': see EPOCH), room, sent at (Redis's clock as the node
 * reckons it, ms; '0': unknown), latest (ms). Idempotency check, offset, history append and trim,
 * and the publish to the room's channel in one step, so an acknowledged message has been both
 * stored and sent. Returns {epoch, offset, 0}, or {epoch, offset, 1, room} of the earlier publish
 * of the key (nothing was sent; room '' for a key stored before 0.2 kept it), or {'', late, 2}
 * when Redis runs it more than `latest` ms after it was sent: the node has given up on it by then
 * (a frozen or stalled Redis runs the commands it queued once it resumes), answered `unavailable`,
 * and a publish refused so must not be applied later.
 * The key is the namespace's (one primary), or the room's on a Redis Cluster, where one script
 * cannot reach two slots.
 */
const PUBLISH = `if ARGV[13] ~= '0' then
  ${NOW}
  local late = now - tonumber(ARGV[13])
  if late > tonumber(ARGV[14]) then return {'', late, 2} end
end
local window = tonumber(ARGV[10])
if window > 0 then
  local prev = redis.call('GET', KEYS[3])
  if prev then
    local a = string.find(prev, '|', 1, true)
    local b = string.find(prev, '|', a + 1, true)
    local room = b and string.sub(prev, b + 1) or ''
    return {string.sub(prev, 1, a - 1), tonumber(string.sub(prev, a + 1, (b or 0) - 1)), 1, room}
  end
end
${EPOCH(11)}
local offset = redis.call('HINCRBY', KEYS[1], 'o', 1)
local size, ttl, idle = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
-- Every publish renews the room's idle TTL: it counts from the last publish.
if size > 0 then
  local len = redis.call('RPUSH', KEYS[2], offset .. '|' .. ARGV[4] .. '|' .. ARGV[6])
  -- Trimmed in batches (reads never return more than size); age is checked when reading.
  if len > size + math.max(1, math.floor(size / 8)) then redis.call('LTRIM', KEYS[2], -size, -1) end
  redis.call('PEXPIRE', KEYS[2], ttl > 0 and ttl or idle)
elseif offset == 1 or offset % 64 == 1 then
  -- A room whose rule now keeps none: what an earlier rule kept goes (checked now and then).
  redis.call('DEL', KEYS[2])
end
redis.call('PEXPIRE', KEYS[1], idle)
if window > 0 then redis.call('SET', KEYS[3], epoch .. '|' .. offset .. '|' .. ARGV[12], 'PX', window) end
redis.call(ARGV[7], ARGV[8], 'm|' .. epoch .. '|' .. offset .. '|' .. ARGV[9] .. '|' .. ARGV[6])
return {epoch, offset, 0}`;

/**
 * KEYS s h; ARGV epoch, since offset (-1: the latest), limit, idleMs, since epoch ('' for none),
 * create ('1': start the room's stream when it has none, as a join does; '0': a read of a room
 * with no state answers {'', 0} and writes nothing), failover check ('1': see EPOCH), size (the history kept:
 * the list may hold a few more, trimmed in batches).
 * Returns {epoch, offset, items...}: the items after `since`, or the latest `limit`.
 */
const HISTORY = `if ARGV[6] ~= '1' and redis.call('EXISTS', KEYS[1]) == 0 then return {'', 0} end
${EPOCH(7)}
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[4]) then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end
local offset = tonumber(redis.call('HGET', KEYS[1], 'o'))
local since, limit = tonumber(ARGV[2]), tonumber(ARGV[3])
local len = redis.call('LLEN', KEYS[2])
if limit <= 0 or len == 0 or since >= offset then return {epoch, offset} end
if ARGV[5] ~= '' and ARGV[5] ~= epoch then return {epoch, offset} end
local first = len - tonumber(ARGV[8])
if first < 0 then first = 0 end
local start = len - limit
if since >= 0 then start = since + 1 - (offset - len + 1) end
if start < first then start = first end
local items = redis.call('LRANGE', KEYS[2], start, start + limit - 1)
table.insert(items, 1, offset)
table.insert(items, 1, epoch)
return items`;

/** KEYS c u i rooms nodeSet; ARGV field, sub, info, room, member. Returns 1 for the user's first. */
const ADD = `if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return 0 end
redis.call('SADD', KEYS[5], ARGV[5])
redis.call('ZADD', KEYS[4], 0, ARGV[4])
if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) > 1 then return 0 end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return 1`;

/**
 * KEYS c u i rooms nodeSet; ARGV room, then pairs of field and node-set member. Removes those
 * connections; returns {sub, info, ...} for each user left with none.
 */
const REMOVE = `local gone = {}
for k = 2, #ARGV, 2 do
  redis.call('SREM', KEYS[5], ARGV[k + 1])
  local sub = redis.call('HGET', KEYS[1], ARGV[k])
  if sub then
    redis.call('HDEL', KEYS[1], ARGV[k])
    if redis.call('HINCRBY', KEYS[2], sub, -1) <= 0 then
      gone[#gone + 1] = sub
      gone[#gone + 1] = redis.call('HGET', KEYS[3], sub) or 'null'
      redis.call('HDEL', KEYS[2], sub)
      redis.call('HDEL', KEYS[3], sub)
    end
  end
end
if redis.call('HLEN', KEYS[2]) == 0 then redis.call('ZREM', KEYS[4], ARGV[1]) end
return gone`;

/**
 * Redis Cluster: the room's part of ADD (KEYS c u i; ARGV field, sub, info), so no script crosses
 * slots; the node set and the rooms index are written by separate commands (redis-presence.ts).
 * Returns -1 when the connection was there already, 1 for the user's first, else 0.
 */
const ADD_ROOM = `if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then return -1 end
if redis.call('HINCRBY', KEYS[2], ARGV[2], 1) > 1 then return 0 end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3])
return 1`;

/**
 * Redis Cluster: the room's part of REMOVE (KEYS c u i; ARGV fields). Returns {empty, sub, info,
 * ...}: empty is 1 when the room has no users left, then each user left with no connection.
 */
const REMOVE_ROOM = `local gone = {0}
for k = 1, #ARGV do
  local sub = redis.call('HGET', KEYS[1], ARGV[k])
  if sub then
    redis.call('HDEL', KEYS[1], ARGV[k])
    if redis.call('HINCRBY', KEYS[2], sub, -1) <= 0 then
      gone[#gone + 1] = sub
      gone[#gone + 1] = redis.call('HGET', KEYS[3], sub) or 'null'
      redis.call('HDEL', KEYS[2], sub)
      redis.call('HDEL', KEYS[3], sub)
    end
  end
end
if redis.call('HLEN', KEYS[2]) == 0 then gone[1] = 1 end
return gone`;

/** KEYS u i. Returns {sub, connections, info, ...}. */
const MEMBERS = `local counts = redis.call('HGETALL', KEYS[1])
local out = {}
for k = 1, #counts, 2 do
  out[#out + 1] = counts[k]
  out[#out + 1] = counts[k + 1]
  out[#out + 1] = redis.call('HGET', KEYS[2], counts[k]) or 'null'
end
return out`;

/**
 * KEYS nodes reaping; ARGV node, ttlMs, max. Returns {added, dead nodes, stale reaper leases,
 * Redis's clock in ms}.
 */
const HEARTBEAT = `${NOW}
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
local stale = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now, 'LIMIT', 0, tonumber(ARGV[3]))
return {added, dead, stale, now}`;

/**
 * KEYS nodes reaping reaped; ARGV node, leaseMs, markMs. Claims a dead node for cleanup: exactly
 * one caller gets 1. The lease lets another node take over when the reaper dies too. The node's
 * tombstone is set in the same step as its registration goes: a node that resumes and finds
 * itself unregistered always finds the tombstone too (set by a command after this, a heartbeat
 * and its check could land in between, and the node announced none of its users again).
 */
const CLAIM = `${NOW}
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if s and tonumber(s) <= now then
  redis.call('ZREM', KEYS[1], ARGV[1])
else
  s = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if not s or tonumber(s) > now then return 0 end
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[3])
return 1`;

/** KEYS revoked; ARGV before (seconds), ttlMs, then field/value pairs of revoked tokens. */
const REVOKE = `local before = tonumber(redis.call('HGET', KEYS[1], 'before') or '0')
if tonumber(ARGV[1]) > before then redis.call('HSET', KEYS[1], 'before', ARGV[1]) end
for k = 3, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[k], ARGV[k + 1]) end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

type Str = string | number;

/** The scripts as typed ioredis commands. */
export interface ScriptCommands {
  rcHistoryBuffer(s: string, h: string, ...argv: Str[]): Promise<[Buffer, number, ...Buffer[]]>;
  rcAdd(c: string, u: string, i: string, rooms: string, node: string, ...argv: Str[]): Promise<number>;
  rcRemove(c: string, u: string, i: string, rooms: string, node: string, ...argv: Str[]): Promise<string[]>;
  rcAddRoom(c: string, u: string, i: string, ...argv: Str[]): Promise<number>;
  rcRemoveRoom(c: string, u: string, i: string, ...argv: Str[]): Promise<[number, ...string[]]>;
  rcMembers(u: string, i: string): Promise<string[]>;
  rcRevoke(key: string, ...argv: Str[]): Promise<number>;
  rcHeartbeat(nodes: string, reaping: string, ...argv: Str[]): Promise<[number, string[], string[], number]>;
  rcClaim(nodes: string, reaping: string, reaped: string, ...argv: Str[]): Promise<number>;
}

/** A single Redis (URL or Sentinel) or a Redis Cluster client, with the scripts defined. */
export type ScriptedRedis = (Redis | Cluster) & ScriptCommands;
/** A pipeline that also carries the scripts; `exec()` gives `[error, result]` pairs. */
export type ScriptedPipeline = ChainableCommander & {
  [K in keyof ScriptCommands]: (...args: Parameters<ScriptCommands[K]>) => ScriptedPipeline;
};

const SCRIPTS: Record<string, { keys: number; lua: string }> = {
  rcHistory: { keys: 2, lua: HISTORY },
  rcAdd: { keys: 5, lua: ADD },
  rcRemove: { keys: 5, lua: REMOVE },
  rcAddRoom: { keys: 3, lua: ADD_ROOM },
  rcRemoveRoom: { keys: 3, lua: REMOVE_ROOM },
  rcMembers: { keys: 2, lua: MEMBERS },
  rcRevoke: { keys: 1, lua: REVOKE },
  rcHeartbeat: { keys: 2, lua: HEARTBEAT },
  rcClaim: { keys: 3, lua: CLAIM },
};

/**
 * Defines roomcast's scripts on a client (once per client).
 *
 * @example
 * const redis = defineScripts(new Redis(url));
 * const [epoch, offset, ...items] = await redis.rcHistoryBuffer(streamKey, historyKey, ...args);
 */
export function defineScripts(redis: Redis | Cluster): ScriptedRedis {
  for (const [name, script] of Object.entries(SCRIPTS)) {
    redis.defineCommand(name, { numberOfKeys: script.keys, lua: script.lua });
  }
  return redis as ScriptedRedis;
}

/** The publish script's reply: `[epoch, offset, duplicate]`, and the first publish's room for a repeat. */
export type PublishReply = [string, number, number] | [string, number, number, string];

/** Every reply of a `PlainScript` is read as UTF-8 strings; the object is shared by every call. */
const UTF8_REPLY = Object.freeze({ replyEncoding: 'utf8' as const });

/**
 * A script run as a plain `EVALSHA` command, and once as `EVAL` when Redis answers `NOSCRIPT` (a
 * new or restarted Redis, a promoted replica, `SCRIPT FLUSH`): for the publish, the one command a
 * node sends per message. ioredis's `defineCommand` path costs more per call, and all of it is
 * held while the command waits for Redis: the arguments are copied twice (a rest array, then
 * `[sha, ...args]`), and each call makes an options object, a `NOSCRIPT` handler with its own
 * promise, and a wrapper of the command's `reject`. On a node that publishes thousands of messages
 * a second that is what the young-generation GC copies (docs/benchmarks.md, stop 35). Here a call
 * makes the `Command` (ioredis's public class, sent with the public `sendCommand`; a Redis Cluster
 * routes it by its keys, as it does the defined scripts) and one handler for `NOSCRIPT`.
 *
 * @example
 * const script = new PlainScript(lua, 3);
 * const [epoch, offset] = await script.run(redis, [streamKey, historyKey, idempotencyKey, ...argv]);
 */
export class PlainScript<Reply> {
  readonly sha: string;

  constructor(
    readonly lua: string,
    /** How many of a call's arguments are keys (they come first). */
    readonly keys: number,
  ) {
    this.sha = createHash('sha1').update(lua).digest('hex');
  }

  /** Runs the script with `args`: its keys, then its arguments (`ARGV`). */
  run(redis: Redis | Cluster, args: Array<Str | Buffer>): Promise<Reply> {
    // `Command` flattens its arguments one level: `args` is not copied here.
    const command = new Command('evalsha', [this.sha, this.keys, args], UTF8_REPLY);
    redis.sendCommand(command);
    return command.promise.then(undefined, (err: unknown) => {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
      const again = new Command('eval', [this.lua, this.keys, args], UTF8_REPLY);
      redis.sendCommand(again);
      return again.promise;
    });
  }
}

/** Runs the publish step (see `PUBLISH`): keys s h k, then its 14 arguments. */
export const publishScript = new PlainScript<PublishReply>(PUBLISH, 3);

/** A pipeline on a scripted client. */
export function scriptedPipeline(redis: ScriptedRedis): ScriptedPipeline {
  return redis.pipeline() as ScriptedPipeline;
}

/** Runs a pipeline; rejects with the first command error. */
export async function execAll(pipe: ChainableCommander): Promise<unknown[]> {
  const results = (await pipe.exec()) ?? [];
  return results.map(([err, value]) => {
    if (err) throw err;
    return value;
  });
}
