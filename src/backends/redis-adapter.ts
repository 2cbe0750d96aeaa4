import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter';
import type { Namespace } from 'socket.io';
import type { Config } from '../config.js';
import type { CatchUp } from './catch-up.js';
import type { RedisClients } from './redis-clients.js';

type Ack = (err: Error | null, responses: unknown[]) => void;

interface PendingRequest {
  resolve?: unknown;
  responses?: unknown[];
  timeout?: NodeJS.Timeout;
}

/** The parts of both Redis adapters this module reaches into. */
interface ClusterAdapterView {
  serverCount(): Promise<number>;
  serverSideEmit(packet: unknown[]): unknown;
  requests?: Map<string, PendingRequest>;
}

/**
 * The Socket.IO adapter factory of a cluster node: `@socket.io/redis-adapter`'s sharded adapter
 * (Redis 7 SSUBSCRIBE per room, `subscriptionMode: 'dynamic'`, so a node receives only the rooms
 * it has members in), or the classic one (PSUBSCRIBE, every node gets every message) when
 * `redis.mode` is `classic`. Channels start with `redis.keyPrefix`.
 *
 * Each adapter instance is hardened: `serverCount()` never rejects (Redis away counts as a node
 * alone, so a server-side emit answers at once with this node's part), and a server-side emit with
 * an acknowledgement answers within `requestTimeoutMs` with the responses it has (the sharded
 * adapter waits a fixed 5 s). Its deliveries are observed by `catchUp`.
 *
 * @example
 * new Server(http, { adapter: clusterAdapter(clients, config.redis, catchUp) });
 */
export function clusterAdapter(
  clients: RedisClients,
  redis: Config['redis'],
  catchUp: CatchUp,
): (nsp: Namespace) => object {
  const base =
    redis.mode === 'classic'
      ? createAdapter(clients.pub, clients.sub, {
          key: redis.keyPrefix,
          requestsTimeout: redis.requestTimeoutMs,
        })
      : createShardedAdapter(clients.pub, clients.sub, {
          channelPrefix: redis.keyPrefix,
          subscriptionMode: 'dynamic',
        });
  // Socket.IO calls the factory with `new`, so it must be a function, not an arrow.
  return function adapterFor(nsp: Namespace) {
    const adapter = base(nsp) as unknown as object;
    const view = adapter as ClusterAdapterView;
    const count = view.serverCount.bind(adapter);
    view.serverCount = () => count().catch(() => 1);
    boundServerSideEmit(view, redis.requestTimeoutMs);
    catchUp.attach(nsp, adapter);
    return adapter;
  };
}

/** A server-side emit with an ack gets its answer within `ms`: the responses so far, and an error. */
function boundServerSideEmit(adapter: ClusterAdapterView, ms: number): void {
  const emit = adapter.serverSideEmit.bind(adapter);
  adapter.serverSideEmit = (packet) => {
    const ack = packet[packet.length - 1];
    if (typeof ack !== 'function') return emit(packet);
    let done = false;
    const finish: Ack = (err, responses) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      (ack as Ack)(err, responses);
    };
    const timer = setTimeout(() => {
      finish(
        new Error(`timeout reached: not every node answered within ${ms} ms`),
        takePartial(adapter, finish),
      );
    }, ms);
    packet[packet.length - 1] = finish;
    return Promise.resolve(emit(packet)).catch((err: Error) => finish(err, []));
  };
}

/** Removes the adapter's own pending request for `ack` and returns the responses it collected. */
function takePartial(adapter: ClusterAdapterView, ack: Ack): unknown[] {
  for (const [id, request] of adapter.requests ?? []) {
    if (request.resolve !== ack) continue;
    clearTimeout(request.timeout);
    adapter.requests?.delete(id);
    return request.responses ?? [];
  }
  return [];
}
