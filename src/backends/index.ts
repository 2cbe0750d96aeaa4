import { type Config, clustered } from '../config.js';
import type { Logger } from '../logger.js';
import type { Engine } from '../rooms/engine.js';
import { createMemoryEngine } from './memory-engine.js';

/**
 * The one place that chooses one node in memory or a Redis cluster. It returns the engine
 * (offsets, history, membership) and, in cluster mode, the Socket.IO adapter that carries
 * broadcasts between nodes.
 */
export interface Cluster {
  readonly engine: Engine;
  /** A Socket.IO adapter constructor; undefined keeps Socket.IO's in-memory adapter. */
  readonly adapter?: unknown;
  /** Redis connection state for metrics and /readyz; always true on one node. */
  isReady(): boolean;
  close(): Promise<void>;
}

export async function createCluster(config: Config, log: Logger): Promise<Cluster> {
  if (!clustered(config)) {
    const engine = createMemoryEngine();
    return { engine, isReady: () => true, close: () => engine.close() };
  }
  const { createRedisCluster } = await import('./redis-cluster.js');
  return createRedisCluster(config, log);
}
