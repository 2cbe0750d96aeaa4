import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { RoomManager } from '../rooms/manager.js';
import { isEchoChannel, MAX_EVENT_NAME } from './channels.js';

/**
 * Laravel's `redis` broadcaster as a publisher. Laravel PUBLISHes `{ event, data, socket }` on
 * `<prefix><channel>` (its `database.redis.options.prefix`); this subscribes to `<prefix>*` and
 * publishes each broadcast into the channel's room through the room manager (offsets, history,
 * cluster delivery), leaving out the connection named in `socket` (Laravel's `toOthers()`).
 *
 * Exactly once cluster-wide: every node receives every Redis message, so every node publishes it
 * with the same idempotency key, and the room manager's idempotency (atomic in the engine, across
 * the cluster) lets the first through and drops the others. The key is the message's hash plus
 * how many times this node has seen that same text on that channel within the idempotency window,
 * so two identical broadcasts in a row are two messages, not one. No leader, no lease: a node
 * going away loses nothing, since the others publish the same broadcasts.
 */
export interface EchoRedisSubscriber {
  close(): Promise<void>;
}

export interface EchoRedisOptions {
  url: string;
  prefix: string;
  rooms: RoomManager;
  roomNameLength: number;
  /** How long a key is remembered by the room manager: occurrences are counted over the same window. */
  windowMs: number;
  log: Logger;
}

/**
 * @example
 * const sub = startEchoRedis({ url: 'redis://127.0.0.1:6379', prefix: 'laravel_database_', rooms, roomNameLength: 200, windowMs: 300_000, log });
 * await sub.close();
 */
export function startEchoRedis(opts: EchoRedisOptions): EchoRedisSubscriber {
  const redis = new Redis(opts.url, { connectionName: 'roomcast-echo', maxRetriesPerRequest: null });
  const seen = new Map<string, { count: number; until: number }>();
  redis.on('error', (err) => opts.log.warn({ err: err.message }, 'echo redis subscriber'));
  redis.psubscribe(`${escapeGlob(opts.prefix)}*`).catch((err: unknown) => {
    opts.log.error({ err }, 'echo redis subscriber could not PSUBSCRIBE');
  });
  redis.on('pmessage', (_pattern: string, redisChannel: string, text: string) => {
    const channel = redisChannel.slice(opts.prefix.length);
    const message = parseBroadcast(text);
    if (!message || !isEchoChannel(channel, opts.roomNameLength)) {
      opts.log.debug({ channel: redisChannel.slice(0, 200) }, 'echo: not a Laravel broadcast; ignored');
      return;
    }
    // Starts with a control character, which no client's key may hold: a client cannot take it first.
    const key = `\u0000laravel:${occurrence(seen, channel, text, opts.windowMs)}`;
    // Async, so that a refusal thrown at once (publish returns or throws without a promise when
    // it can) is logged like one that comes later.
    const publish = async () =>
      opts.rooms.publish(
        null,
        { room: channel, event: message.event, data: message.data },
        { source: 'api', idempotencyKey: key, ...(message.socket ? { except: message.socket } : {}) },
      );
    publish().catch((err: unknown) => opts.log.warn({ err, channel }, 'echo: broadcast not published'));
  });
  return {
    async close() {
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

interface Broadcast {
  event: string;
  data: unknown;
  socket: string | null;
}

/** `{ event, data, socket }` as RedisBroadcaster sends it, or null. `data` is passed on untouched. */
export function parseBroadcast(text: string): Broadcast | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  const { event, data, socket } = value as Record<string, unknown>;
  if (typeof event !== 'string' || event.length === 0 || event.length > MAX_EVENT_NAME) return null;
  return { event, data: data ?? null, socket: typeof socket === 'string' && socket ? socket : null };
}

/** `<hash>:<n>`: the n-th time this node sees this exact text on this channel within the window. */
function occurrence(
  seen: Map<string, { count: number; until: number }>,
  channel: string,
  text: string,
  windowMs: number,
): string {
  const now = Date.now();
  if (seen.size > 10_000) for (const [k, v] of seen) if (v.until <= now) seen.delete(k);
  const hash = createHash('sha256').update(channel).update('\0').update(text).digest('base64url');
  const prev = seen.get(hash);
  const count = prev && prev.until > now ? prev.count + 1 : 1;
  seen.set(hash, { count, until: now + windowMs });
  return `${hash}:${count}`;
}

/** A prefix taken literally in a PSUBSCRIBE pattern. */
function escapeGlob(prefix: string): string {
  return prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
