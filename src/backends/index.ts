import { type Config, clustered } from '../config.js';
import type { Logger } from '../logger.js';
import type { DeliverySink, Engine } from '../rooms/engine.js';
import { createMemoryEngine } from './memory-engine.js';

/**
 * Where rooms live: the engine (offsets, history, membership, delivery between nodes) and, in
 * cluster mode, the Socket.IO adapter that carries traffic between nodes.
 */
export interface Backend {
  readonly engine: Engine;
  /** A Socket.IO adapter constructor; undefined keeps Socket.IO's in-memory adapter. */
  readonly adapter?: unknown;
  /**
   * Whether this node can serve cluster-wide requests now: the engine's connections and
   * subscriptions are live and (cluster mode) so is the Socket.IO adapter's. Always true in memory.
   */
  isReady(): boolean;
  close(): Promise<void>;
}

/**
 * The one place that chooses one node in memory or a Redis cluster, from `config.redis`. What
 * reaches this node is handed to `sink` (the hub).
 *
 * @example
 * const backend = await createBackend(config, log, hub);
 */
export async function createBackend(config: Config, log: Logger, sink: DeliverySink): Promise<Backend> {
  if (!clustered(config)) {
    const engine = createMemoryEngine(sink);
    return { engine, isReady: () => engine.isReady(), close: () => engine.close() };
  }
  const { createRedisBackend } = await import('./redis-cluster.js');
  return createRedisBackend(config, log, sink);
}
