import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { inferAlgorithms, JWT_ALGORITHMS, type JwtAlgorithm, parsePublicKey } from './auth/keys.js';
import { type RawRedisConfig, type RedisTarget, redisSchema, redisTarget } from './config-redis.js';
import { compilePattern } from './rooms/patterns.js';

/**
 * Configuration: `config/default.json`, then the file named by `ROOMCAST_CONFIG` merged over it,
 * then env vars over both. Validated once into a frozen, typed object; a bad value throws a
 * `ConfigError` whose message names the field (the CLI turns it into exit code 78).
 */

export class ConfigError extends Error {
  constructor(
    readonly field: string,
    detail: string,
  ) {
    super(`${field}: ${detail}`);
    this.name = 'ConfigError';
  }
}

export type { HostPort, RedisTarget } from './config-redis.js';
export type { JwtAlgorithm };

const pattern = z.string().min(1).max(400).refine(isValidPattern, 'not a valid room pattern');
const patterns = z.array(pattern).max(1000);
const ms = z
  .number()
  .int()
  .min(0)
  .max(30 * 24 * 3600 * 1000);
const positiveInt = z.number().int().min(1);

const rightsSchema = z
  .object({
    subscribe: patterns.default([]),
    publish: patterns.default([]),
    presence: patterns.default([]),
  })
  .strict();

const namespaceSchema = z
  .object({
    jwt: z
      .object({
        secrets: z.array(z.string().min(1)).default([]),
        publicKeys: z.array(z.string().min(1)).default([]),
        algorithms: z.array(z.enum(JWT_ALGORITHMS)).min(1).nullable().default(null),
        issuer: z.string().min(1).nullable().default(null),
        audience: z.string().min(1).nullable().default(null),
        requireExp: z.boolean().default(true),
        clockToleranceSec: z.number().int().min(0).max(300).default(5),
      })
      .strict()
      .prefault({}),
    apiKeys: z.array(z.string().min(8, 'an API key needs at least 8 characters')).default([]),
    rules: rightsSchema.prefault({}),
    limits: z
      .object({
        roomsPerConnection: positiveInt.max(100_000).default(128),
        payloadBytes: positiveInt.max(16 * 1024 * 1024).default(65536),
        roomNameLength: positiveInt.max(200).default(200),
        eventsPerSecond: positiveInt.max(1_000_000).default(100),
        historyLimit: positiveInt.max(100_000).default(1000),
      })
      .strict()
      .prefault({}),
    history: z
      .array(z.object({ pattern, size: z.number().int().min(0).max(100_000), ttlMs: ms }).strict())
      .default([{ pattern: '*', size: 100, ttlMs: 300_000 }]),
    presence: patterns.default(['*']),
  })
  .strict();

const configSchema = z
  .object({
    host: z.string().min(1).default('0.0.0.0'),
    port: z.number().int().min(0).max(65535).default(3000),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    allowedOrigins: z.array(z.string().min(1)).default(['*']),
    shutdownGraceMs: ms.default(5_000),
    tokenExpiryLeadMs: ms.default(60_000),
    demo: z.boolean().default(true),
    redis: redisSchema.prefault({}),
    api: z
      .object({
        bodyLimitBytes: positiveInt.max(64 * 1024 * 1024).default(1_048_576),
        maxRoomsPerPublish: positiveInt.max(10_000).default(100),
        maxBatchMessages: positiveInt.max(10_000).default(100),
        idempotencyWindowMs: ms.default(300_000),
        rateLimitPerSecond: positiveInt.default(1000),
      })
      .strict()
      .prefault({}),
    sse: z
      .object({
        heartbeatMs: ms.min(100).default(15_000),
        maxStreamsPerUser: positiveInt.max(10_000).default(10),
        maxRoomsPerStream: positiveInt.max(1000).default(32),
      })
      .strict()
      .prefault({}),
    namespaces: z
      .record(z.string().regex(/^\/[A-Za-z0-9_\-/.]{0,100}$/, 'a namespace starts with "/"'), namespaceSchema)
      .default({}),
  })
  .strict();

type RawConfig = z.output<typeof configSchema>;
type RawNamespace = z.output<typeof namespaceSchema>;

export interface NamespaceConfig extends Omit<RawNamespace, 'jwt'> {
  name: string;
  jwt: Omit<RawNamespace['jwt'], 'algorithms'> & { algorithms: JwtAlgorithm[] };
}

export interface Config extends Omit<RawConfig, 'namespaces' | 'redis'> {
  production: boolean;
  redis: RawRedisConfig & {
    /** Where Redis is, derived from `url` / `sentinels` / `cluster`; null: one node in memory. */
    target: RedisTarget | null;
  };
  namespaces: Record<string, NamespaceConfig>;
  /** Keys made up at start in development, so `main` can print them. Empty in production. */
  generated: { jwtSecret?: string; apiKey?: string };
}

/** Reads, merges, validates and freezes the configuration. */
export function loadConfig(env: NodeJS.ProcessEnv = {}): Config {
  let merged = readJson(defaultConfigPath(), 'config/default.json');
  if (env.ROOMCAST_CONFIG) {
    merged = deepMerge(merged, readJson(env.ROOMCAST_CONFIG, 'ROOMCAST_CONFIG'));
    // Check the files alone first: an env var must not hide a bad value (`"namespaces": []`).
    validate(merged);
  }
  const raw = validate(deepMerge(merged, envOverrides(env)));
  const production = env.NODE_ENV === 'production';
  const generated: Config['generated'] = {};
  const namespaces: Record<string, NamespaceConfig> = {};
  if (!raw.namespaces['/']) raw.namespaces['/'] = namespaceSchema.parse({});
  for (const [name, ns] of Object.entries(raw.namespaces)) {
    namespaces[name] = finishNamespace(name, ns, production, generated);
  }
  return deepFreeze({
    ...raw,
    production,
    redis: { ...raw.redis, target: redisTarget(raw.redis) },
    namespaces,
    generated,
  });
}

function validate(merged: Record<string, unknown>): RawConfig {
  const parsed = configSchema.safeParse(merged);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const field = issue.path.length ? issue.path.join('.') : '(root)';
  throw new ConfigError(`config ${field}`, issue.message);
}

function finishNamespace(
  name: string,
  ns: RawNamespace,
  production: boolean,
  generated: Config['generated'],
): NamespaceConfig {
  const field = `config namespaces.${name}`;
  const jwt = { ...ns.jwt };
  ns.jwt.publicKeys.forEach((pem, i) => {
    try {
      parsePublicKey(pem);
    } catch {
      throw new ConfigError(`${field}.jwt.publicKeys.${i}`, 'not a PEM public key');
    }
  });
  if (jwt.secrets.length === 0 && jwt.publicKeys.length === 0) {
    if (production) throw new ConfigError(`${field}.jwt`, missingKeyMessage(name));
    generated.jwtSecret ??= randomBytes(32).toString('base64url');
    jwt.secrets = [generated.jwtSecret];
  }
  const algorithms = jwt.algorithms ?? inferAlgorithms(jwt.secrets, jwt.publicKeys);
  for (const alg of algorithms) {
    const symmetric = alg.startsWith('HS');
    if (symmetric && jwt.secrets.length === 0)
      throw new ConfigError(`${field}.jwt.algorithms`, `${alg} needs a secret (ROOMCAST_JWT_SECRET)`);
    if (!symmetric && jwt.publicKeys.length === 0)
      throw new ConfigError(`${field}.jwt.algorithms`, `${alg} needs a public key (ROOMCAST_JWT_PUBLIC_KEY)`);
  }
  let apiKeys = ns.apiKeys;
  if (apiKeys.length === 0 && name === '/') {
    if (production)
      throw new ConfigError(`${field}.apiKeys`, 'no API key: set ROOMCAST_API_KEYS (comma list of keys)');
    generated.apiKey ??= `rc_${randomBytes(18).toString('base64url')}`;
    apiKeys = [generated.apiKey];
  }
  return { ...ns, name, jwt: { ...jwt, algorithms }, apiKeys };
}

function missingKeyMessage(ns: string): string {
  return ns === '/'
    ? 'no JWT key: set ROOMCAST_JWT_SECRET or ROOMCAST_JWT_PUBLIC_KEY'
    : 'no JWT key: set jwt.secrets or jwt.publicKeys in the config file';
}

/** The env vars of contract section 1, as a partial config object. */
function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const root: Record<string, unknown> = {};
  const jwt: Record<string, unknown> = {};
  if (env.HOST !== undefined) out.host = env.HOST;
  if (env.PORT !== undefined) out.port = envInt('PORT', env.PORT);
  if (env.ROOMCAST_LOG_LEVEL !== undefined) out.logLevel = env.ROOMCAST_LOG_LEVEL;
  if (env.ROOMCAST_ALLOWED_ORIGINS !== undefined) out.allowedOrigins = list(env.ROOMCAST_ALLOWED_ORIGINS);
  const redis: Record<string, unknown> = {};
  if (env.ROOMCAST_REDIS_URL) redis.url = env.ROOMCAST_REDIS_URL;
  if (env.ROOMCAST_REDIS_SENTINELS) redis.sentinels = list(env.ROOMCAST_REDIS_SENTINELS);
  if (env.ROOMCAST_REDIS_SENTINEL_MASTER) redis.sentinelMaster = env.ROOMCAST_REDIS_SENTINEL_MASTER;
  if (env.ROOMCAST_REDIS_SENTINEL_PASSWORD) redis.sentinelPassword = env.ROOMCAST_REDIS_SENTINEL_PASSWORD;
  if (env.ROOMCAST_REDIS_CLUSTER) redis.cluster = list(env.ROOMCAST_REDIS_CLUSTER);
  if (env.ROOMCAST_REDIS_PASSWORD) redis.password = env.ROOMCAST_REDIS_PASSWORD;
  if (env.ROOMCAST_REDIS_TLS) redis.tls = /^(1|true)$/i.test(env.ROOMCAST_REDIS_TLS.trim());
  if (Object.keys(redis).length) out.redis = redis;
  if (env.ROOMCAST_JWT_SECRET) jwt.secrets = [env.ROOMCAST_JWT_SECRET];
  if (env.ROOMCAST_JWT_PUBLIC_KEY) jwt.publicKeys = [env.ROOMCAST_JWT_PUBLIC_KEY.replace(/\\n/g, '\n')];
  if (env.ROOMCAST_JWT_ALGORITHMS) jwt.algorithms = list(env.ROOMCAST_JWT_ALGORITHMS);
  if (env.ROOMCAST_JWT_ISSUER) jwt.issuer = env.ROOMCAST_JWT_ISSUER;
  if (env.ROOMCAST_JWT_AUDIENCE) jwt.audience = env.ROOMCAST_JWT_AUDIENCE;
  if (env.ROOMCAST_API_KEYS !== undefined) root.apiKeys = list(env.ROOMCAST_API_KEYS);
  if (Object.keys(jwt).length) root.jwt = jwt;
  if (Object.keys(root).length) out.namespaces = { '/': root };
  return out;
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

function isValidPattern(p: string): boolean {
  try {
    compilePattern(p);
    return true;
  } catch {
    return false;
  }
}

function defaultConfigPath(): string {
  // dist/config.js and src/config.ts both sit one level below the package root.
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', 'config', 'default.json');
}

function readJson(path: string, field: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(field, `cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(field, `${path} is not valid JSON (${(err as Error).message})`);
  }
  if (!isPlainObject(value)) throw new ConfigError(field, `${path} must hold a JSON object`);
  return value;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; arrays and scalars from `over` replace. Prototype keys are ignored. */
export function deepMerge(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') continue;
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? deepMerge(prev, value) : value;
  }
  return out;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
