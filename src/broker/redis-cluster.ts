import type { Config } from '../config.js';
import type { Cluster } from './cluster.js';
import type { Logger } from './logger.js';

// Placeholder until the cluster work (issue 3) lands.
export async function createRedisCluster(_config: Config, _log: Logger): Promise<Cluster> {
  throw new Error('cluster mode is not built yet');
}
