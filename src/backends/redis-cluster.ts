import type { Config } from '../config.js';
import { RoomcastError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Engine } from '../rooms/engine.js';
import { CatchUp } from './catch-up.js';
import type { Cluster } from './index.js';
import { clusterAdapter } from './redis-adapter.js';
import { createRedisClients, type RedisClients } from './redis-clients.js';
import { createRedisEngine } from './redis-engine.js';

/** How long a new node waits for Redis before it starts anyway (not ready, retrying). */
const STARTUP_WAIT_MS = 5000;
/** Resubscribing after a reconnect is done when every (S)SUBSCRIBE is answered, or after this. */
const RESUBSCRIBE_WAIT_MS = 30_000;

/**
 * Cluster mode over Redis (`redis.url` set): three connections per broker (see redis-clients.ts),
 * the Redis engine (offsets, history, presence, idempotency), and the hardened Socket.IO Redis
 * adapter for delivery between nodes.
 *
 * Ready means: the command and publish connections are up, the subscriber has resubscribed after
 * its last reconnect, and presence is registered. A node that is not ready refuses publishes with
 * `unavailable` (so nothing is acknowledged that other nodes may not get) and `/readyz` answers 503;
 * it keeps serving its local connections throughout.
 *
 * @example
 * const cluster = await createRedisCluster(config, log);
 * const io = new Server(http, { adapter: cluster.adapter as never });
 */
export async function createRedisCluster(config: Config, log: Logger): Promise<Cluster> {
  const r = config.redis;
  if (!r.url) throw new Error('createRedisCluster needs redis.url');
  const clog = log.child({ component: 'cluster' });
  const clients = createRedisClients(r.url, {
    requestTimeoutMs: r.requestTimeoutMs,
    log: clog,
    retryable: isMessageChannel(r.keyPrefix),
  });
  const raw = createRedisEngine(clients.command, {
    prefix: r.keyPrefix,
    presenceTtlMs: r.presenceTtlMs,
    heartbeatMs: r.heartbeatMs,
    requestTimeoutMs: r.requestTimeoutMs,
    log: clog,
  });
  const catchUp = new CatchUp(raw, clog);
  const subscribed = trackSubscriber(clients, catchUp, clog);
  const isReady = () => raw.isReady() && clients.pub.status === 'ready' && subscribed();
  const engine = clusterEngine(raw, clients, catchUp, isReady, r.requestTimeoutMs);
  if (!(await waitFor(isReady, STARTUP_WAIT_MS))) {
    clog.warn({ url: redactUrl(r.url) }, 'redis is not reachable yet; starting not ready and retrying');
  }
  clog.info({ mode: r.mode, url: redactUrl(r.url), prefix: r.keyPrefix }, 'cluster mode over redis');
  return {
    engine,
    adapter: clusterAdapter(clients, r, catchUp),
    isReady,
    async close() {
      catchUp.close();
      await engine.close();
      await clients.close();
    },
  };
}

/**
 * The Redis engine as the broker uses it: publishes are refused while the node is not ready; a
 * join waits for its room's SSUBSCRIBE to be answered (the sub connection is not the one that reads
 * history, and a message published between the two would be missed); history reads seed catch-up.
 */
function clusterEngine(
  raw: Engine,
  clients: RedisClients,
  catchUp: CatchUp,
  isReady: () => boolean,
  requestTimeoutMs: number,
): Engine {
  return {
    ...raw,
    isReady,
    async publish(ns, draft, policy) {
      if (!isReady()) {
        throw new RoomcastError(
          'unavailable',
          'the cluster is not ready (Redis unreachable or reconnecting)',
        );
      }
      return raw.publish(ns, draft, policy);
    },
    async addMember(ns, room, member, connId) {
      const [first] = await Promise.all([
        raw.addMember(ns, room, member, connId),
        clients.subscriptionsSettled(requestTimeoutMs),
      ]);
      return first;
    },
    async history(ns, room, query, policy) {
      const result = await raw.history(ns, room, query, policy);
      catchUp.seed(ns, room, result);
      return result;
    },
  };
}

/**
 * Whether the subscriber is up and resubscribed. ioredis resubscribes (SUBSCRIBE, PSUBSCRIBE and
 * SSUBSCRIBE alike) as it turns ready; the node counts as subscribed once those are answered, and
 * then catches up on what it missed meanwhile.
 */
function trackSubscriber(clients: RedisClients, catchUp: CatchUp, log: Logger): () => boolean {
  let subscribed = clients.sub.status === 'ready';
  let generation = 0;
  let wasDown = false;
  clients.sub.on('close', () => {
    if (subscribed) wasDown = true;
    subscribed = false;
    generation++;
  });
  clients.sub.on('ready', () => {
    const mine = ++generation;
    void clients.subscriptionsSettled(RESUBSCRIBE_WAIT_MS).then(() => {
      if (mine !== generation || clients.sub.status !== 'ready') return;
      subscribed = true;
      if (!wasDown) return;
      wasDown = false;
      log.info('redis subscriber resubscribed; catching up from history');
      catchUp.afterResubscribe().catch((err: unknown) => log.warn({ err }, 'catch-up failed'));
    });
  });
  return () => subscribed;
}

async function waitFor(done: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

/**
 * Whether an adapter channel carries one room's messages: `<prefix>#<ns>##<room>#` (both adapters
 * name a single-room broadcast's channel so), not a presence channel (`#p#<room>`) nor the
 * namespace's request channels.
 */
function isMessageChannel(prefix: string): (channel: string) => boolean {
  const head = `${prefix}#`;
  return (channel) => {
    if (!channel.startsWith(head)) return false;
    const rest = channel.slice(head.length);
    const at = rest.indexOf('##');
    return at > 0 && !rest.startsWith('p#', at + 2) && rest.endsWith('#') && !rest.slice(0, at).includes('#');
  };
}

function redactUrl(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
