import { ConfigError } from './config-error.js';

/**
 * The env vars of the README's configuration table, as a partial config object to merge over the
 * files, and which env var set which field (so that an error names the env var). `main` passes
 * `process.env`; nothing here reads it.
 */

export interface EnvOverrides {
  /** A partial config object. */
  values: Record<string, unknown>;
  /** Config path (dotted) -> the env var that set it, for error messages. */
  names: Map<string, string>;
}

/** The env vars of the README's table, as a partial config object. Empty values count as unset where noted. */
export function envOverrides(env: NodeJS.ProcessEnv): EnvOverrides {
  const values: Record<string, unknown> = {};
  const names = new Map<string, string>();
  const set = (path: string, name: string, value: unknown) => {
    setPath(values, path.split('.'), value);
    names.set(path, name);
  };
  const root = 'namespaces./';
  if (env.HOST !== undefined) set('host', 'HOST', env.HOST);
  if (env.PORT !== undefined) set('port', 'PORT', envInt('PORT', env.PORT));
  if (env.ROOMCAST_LOG_LEVEL !== undefined) set('logLevel', 'ROOMCAST_LOG_LEVEL', env.ROOMCAST_LOG_LEVEL);
  if (env.ROOMCAST_ALLOWED_ORIGINS)
    set('allowedOrigins', 'ROOMCAST_ALLOWED_ORIGINS', list(env.ROOMCAST_ALLOWED_ORIGINS));
  redisEnv(env, set);
  if (env.ROOMCAST_METRICS_TOKEN) set('metrics.token', 'ROOMCAST_METRICS_TOKEN', env.ROOMCAST_METRICS_TOKEN);
  if (env.ROOMCAST_METRICS_PORT)
    set('metrics.port', 'ROOMCAST_METRICS_PORT', envInt('ROOMCAST_METRICS_PORT', env.ROOMCAST_METRICS_PORT));
  if (env.ROOMCAST_JWT_SECRET) set(`${root}.jwt.secrets`, 'ROOMCAST_JWT_SECRET', [env.ROOMCAST_JWT_SECRET]);
  if (env.ROOMCAST_JWT_PUBLIC_KEY)
    set(`${root}.jwt.publicKeys`, 'ROOMCAST_JWT_PUBLIC_KEY', [
      env.ROOMCAST_JWT_PUBLIC_KEY.replace(/\\n/g, '\n'),
    ]);
  if (env.ROOMCAST_JWT_ALGORITHMS)
    set(`${root}.jwt.algorithms`, 'ROOMCAST_JWT_ALGORITHMS', list(env.ROOMCAST_JWT_ALGORITHMS));
  if (env.ROOMCAST_JWT_ISSUER) set(`${root}.jwt.issuer`, 'ROOMCAST_JWT_ISSUER', env.ROOMCAST_JWT_ISSUER);
  if (env.ROOMCAST_JWT_AUDIENCE)
    set(`${root}.jwt.audience`, 'ROOMCAST_JWT_AUDIENCE', env.ROOMCAST_JWT_AUDIENCE);
  if (env.ROOMCAST_API_KEYS !== undefined)
    set(`${root}.apiKeys`, 'ROOMCAST_API_KEYS', list(env.ROOMCAST_API_KEYS));
  return { values, names };
}

function redisEnv(env: NodeJS.ProcessEnv, set: (path: string, name: string, value: unknown) => void): void {
  if (env.ROOMCAST_REDIS_URL) set('redis.url', 'ROOMCAST_REDIS_URL', env.ROOMCAST_REDIS_URL);
  if (env.ROOMCAST_REDIS_SENTINELS)
    set('redis.sentinels', 'ROOMCAST_REDIS_SENTINELS', list(env.ROOMCAST_REDIS_SENTINELS));
  if (env.ROOMCAST_REDIS_SENTINEL_MASTER)
    set('redis.sentinelMaster', 'ROOMCAST_REDIS_SENTINEL_MASTER', env.ROOMCAST_REDIS_SENTINEL_MASTER);
  if (env.ROOMCAST_REDIS_SENTINEL_PASSWORD)
    set('redis.sentinelPassword', 'ROOMCAST_REDIS_SENTINEL_PASSWORD', env.ROOMCAST_REDIS_SENTINEL_PASSWORD);
  if (env.ROOMCAST_REDIS_CLUSTER)
    set('redis.cluster', 'ROOMCAST_REDIS_CLUSTER', list(env.ROOMCAST_REDIS_CLUSTER));
  if (env.ROOMCAST_REDIS_PASSWORD)
    set('redis.password', 'ROOMCAST_REDIS_PASSWORD', env.ROOMCAST_REDIS_PASSWORD);
  if (env.ROOMCAST_REDIS_TLS)
    set('redis.tls', 'ROOMCAST_REDIS_TLS', envBool('ROOMCAST_REDIS_TLS', env.ROOMCAST_REDIS_TLS));
  if (env.ROOMCAST_REDIS_FAILOVER_CHECK)
    set(
      'redis.failoverCheck',
      'ROOMCAST_REDIS_FAILOVER_CHECK',
      envBool('ROOMCAST_REDIS_FAILOVER_CHECK', env.ROOMCAST_REDIS_FAILOVER_CHECK),
    );
}

function envBool(name: string, value: string): boolean {
  const v = value.trim().toLowerCase();
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ConfigError(name, `must be true or false, got "${value}"`);
}

/** Sets `path` in `target`, creating the objects on the way. */
function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let at = target;
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(at[key])) at[key] = {};
    at = at[key] as Record<string, unknown>;
  }
  at[path[path.length - 1]!] = value;
}

function envInt(name: string, value: string): number {
  if (!/^\d{1,5}$/.test(value.trim())) throw new ConfigError(name, `must be a whole number, got "${value}"`);
  return Number(value);
}

function list(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
