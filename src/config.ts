import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { JwtAlgorithm } from './auth/keys.js';
import { envOverrides } from './config-env.js';
import { ConfigError, fieldLabel } from './config-error.js';
import { deepFreeze, deepMerge, readJson } from './config-files.js';
import {
  finishNamespace,
  type GeneratedKeys,
  ms,
  type NamespaceConfig,
  namespaceName,
  namespaceSchema,
  positiveInt,
} from './config-namespace.js';
import { type RawRedisConfig, type RedisTarget, redisSchema, redisTarget } from './config-redis.js';

/**
 * Configuration: `config/default.json`, then the file named by `ROOMCAST_CONFIG` merged over it,
 * then env vars over both. Validated once into a frozen, typed object; a bad value throws a
 * `ConfigError` whose message names the field (the CLI turns it into exit code 78).
 */

export { ConfigError } from './config-error.js';
export type { EchoConfig, GeneratedKeys, NamespaceConfig } from './config-namespace.js';
export { MIN_API_KEY_LENGTH, MIN_SECRET_BYTES } from './config-namespace.js';
export type { HostPort, RedisTarget } from './config-redis.js';
export type { JwtAlgorithm };

export const MIN_METRICS_TOKEN_LENGTH = 16;

/** A browser origin as browsers send it: lower-case `scheme://host[:port]`, no path, no slash. */
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/(\[[0-9a-f:.]+\]|[a-z0-9._~%-]+)(:\d{1,5})?$/;
const origin = z
  .string()
  .refine(
    (o) => o === '*' || ORIGIN.test(o),
    'an origin is "*" or scheme://host[:port] in lower case, without a path or a trailing slash',
  )
  .transform(withoutDefaultPort);

/**
 * An origin as a browser sends it: without its scheme's default port (`http://localhost:80` is
 * sent as `http://localhost`, which the listed form would never match).
 *
 * @example
 * withoutDefaultPort('https://app.example.com:443'); // 'https://app.example.com'
 */
export function withoutDefaultPort(origin: string): string {
  if (origin.startsWith('http://') && origin.endsWith(':80')) return origin.slice(0, -3);
  if (origin.startsWith('https://') && origin.endsWith(':443')) return origin.slice(0, -4);
  return origin;
}

const configSchema = z
  .object({
    /** null: 127.0.0.1 in development, 0.0.0.0 in production. */
    host: z.string().min(1).nullable().default(null),
    port: z.number().int().min(0).max(65535).default(3000),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** null: `["*"]` in development, a config error in production. */
    allowedOrigins: z
      .array(origin)
      .min(1, 'give at least one origin, or ["*"]')
      .refine((list) => !list.includes('*') || list.length === 1, '"*" cannot be combined with origins')
      .nullable()
      .default(null),
    shutdownGraceMs: ms.default(5_000),
    tokenExpiryLeadMs: ms.default(60_000),
    demo: z.boolean().default(true),
    redis: redisSchema.prefault({}),
    limits: z
      .object({
        /** Connections on this node (all namespaces and transports); null: no limit. */
        maxConnections: positiveInt.max(10_000_000).nullable().default(null),
        /** Unsent bytes one connection may hold before it is closed (`slow_consumer`). */
        sendQueueBytes: z
          .number()
          .int()
          .min(1024)
          .max(1024 * 1024 * 1024)
          .default(1_048_576),
        /**
         * The most time a client has to send one HTTP request, headers and body (every request on
         * the port: the server API, SSE, Socket.IO's long-polling); past it the request gets 408.
         */
        requestTimeoutMs: ms.min(100).max(3_600_000).default(30_000),
      })
      .strict()
      .prefault({}),
    metrics: z
      .object({
        /** When set, `/metrics` requires `Authorization: Bearer <token>`. */
        token: z
          .string()
          .min(
            MIN_METRICS_TOKEN_LENGTH,
            `a metrics token needs at least ${MIN_METRICS_TOKEN_LENGTH} characters`,
          )
          .nullable()
          .default(null),
        /** When set, `/metrics` is served on this port (0: any free one) and not on `port`. */
        port: z.number().int().min(0).max(65535).nullable().default(null),
      })
      .strict()
      .prefault({}),
    api: z
      .object({
        bodyLimitBytes: positiveInt.max(64 * 1024 * 1024).default(1_048_576),
        maxRoomsPerPublish: positiveInt.max(10_000).default(100),
        maxBatchMessages: positiveInt.max(10_000).default(100),
        idempotencyWindowMs: ms.default(300_000),
        rateLimitPerSecond: positiveInt.max(10_000_000).default(1000),
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
    namespaces: z.record(namespaceName, namespaceSchema).default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const metricsPort = c.metrics?.port;
    if (typeof metricsPort === 'number' && metricsPort !== 0 && metricsPort === c.port)
      ctx.addIssue({ code: 'custom', path: ['metrics', 'port'], message: 'must differ from port' });
  });

type RawConfig = z.output<typeof configSchema>;
export interface Config extends Omit<RawConfig, 'namespaces' | 'host' | 'allowedOrigins' | 'redis'> {
  production: boolean;
  /** `host` as set, else 127.0.0.1 in development and 0.0.0.0 in production. */
  host: string;
  /** As set; unset is `["*"]` in development (and a config error in production). */
  allowedOrigins: string[];
  redis: RawRedisConfig & {
    /** Where Redis is, derived from `url` / `sentinels` / `cluster`; null: one node in memory. */
    target: RedisTarget | null;
  };
  namespaces: Record<string, NamespaceConfig>;
  /** Keys made up for this run (see GeneratedKeys). */
  generated: GeneratedKeys;
}

/**
 * True when the broker runs as one node of a cluster over Redis (any Redis mode).
 *
 * @example
 * const engine = clustered(config) ? await redisEngine(config) : createMemoryEngine();
 */
export function clustered(config: Pick<Config, 'redis'>): boolean {
  return config.redis.target !== null;
}

/** Reads, merges, validates and freezes the configuration. */
export function loadConfig(env: NodeJS.ProcessEnv = {}): Config {
  let merged = readJson(defaultConfigPath(), 'config/default.json');
  if (env.ROOMCAST_CONFIG) {
    merged = deepMerge(merged, readJson(env.ROOMCAST_CONFIG, 'ROOMCAST_CONFIG'));
    // Check the files alone first: an env var must not hide a bad value (`"namespaces": []`).
    validate(merged);
  }
  const overrides = envOverrides(env);
  const raw = validate(deepMerge(merged, overrides.values), overrides.names);
  const production = env.NODE_ENV === 'production';
  const generated: Config['generated'] = { jwtSecretFor: [] };
  const namespaces: Record<string, NamespaceConfig> = {};
  if (!raw.namespaces['/']) raw.namespaces['/'] = namespaceSchema.parse({});
  for (const [name, ns] of Object.entries(raw.namespaces)) {
    const secretVar = name === '/' && env.ROOMCAST_JWT_SECRET ? 'ROOMCAST_JWT_SECRET' : undefined;
    namespaces[name] = finishNamespace(name, ns, {
      production,
      generated,
      secretVar,
      envNames: overrides.names,
    });
  }
  checkEchoAppIds(namespaces);
  if (production && raw.allowedOrigins === null)
    throw new ConfigError(
      'config allowedOrigins',
      'required in production: set ROOMCAST_ALLOWED_ORIGINS (comma list, e.g. https://app.example.com), or ["*"] to allow every origin',
    );
  return deepFreeze({
    ...raw,
    production,
    host: raw.host ?? (production ? '0.0.0.0' : '127.0.0.1'),
    allowedOrigins: raw.allowedOrigins ?? ['*'],
    redis: { ...raw.redis, target: redisTarget(raw.redis) },
    namespaces,
    generated,
  });
}

/**
 * Every setting with its default, as `config/default.json` holds it (a test keeps the two equal).
 *
 * @example
 * writeFileSync('config/default.json', JSON.stringify(configDefaults(), null, 2));
 */
export function configDefaults(): Record<string, unknown> {
  const defaults = configSchema.parse({});
  return { ...defaults, namespaces: { '/': namespaceSchema.parse({}) } };
}

/** Validates; an error names the field and, when an env var set it, the env var. */
function validate(merged: Record<string, unknown>, envNames = new Map<string, string>()): RawConfig {
  const parsed = configSchema.safeParse(merged);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const path = issue.path.length ? issue.path.join('.') : '(root)';
  // A record key's own refusal (a namespace name) is nested under zod's "Invalid key in record".
  const message = issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message;
  throw new ConfigError(fieldLabel(path, envNames), message);
}

/**
 * laravel-echo-server's HTTP API finds an app by its id alone (`/apps/:appId/...`), on one port for
 * every namespace: an id listed twice would leave one of its keys, and its namespace, unreachable.
 */
function checkEchoAppIds(namespaces: Record<string, NamespaceConfig>): void {
  const seen = new Map<string, string>();
  for (const [name, ns] of Object.entries(namespaces))
    ns.echo?.apps.forEach((app, i) => {
      const at = `namespaces.${name}.echo.apps.${i}`;
      const first = seen.get(app.appId);
      if (first)
        throw new ConfigError(`config ${at}.appId`, `"${app.appId}" is the appId of ${first} already`);
      seen.set(app.appId, at);
    });
}

function defaultConfigPath(): string {
  // dist/config.js and src/config.ts both sit one level below the package root.
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', 'config', 'default.json');
}
