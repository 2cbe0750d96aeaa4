import { type KeyObject, randomBytes } from 'node:crypto';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  algorithmsForKey,
  inferAlgorithms,
  JWT_ALGORITHMS,
  type JwtAlgorithm,
  keyKind,
  parsePublicKey,
} from './auth/keys.js';
import { envOverrides } from './config-env.js';
import { ConfigError } from './config-error.js';
import { deepFreeze, deepMerge, readJson } from './config-files.js';
import { type RawRedisConfig, type RedisTarget, redisSchema, redisTarget } from './config-redis.js';
import { compilePattern } from './rooms/patterns.js';

/**
 * Configuration: `config/default.json`, then the file named by `ROOMCAST_CONFIG` merged over it,
 * then env vars over both. Validated once into a frozen, typed object; a bad value throws a
 * `ConfigError` whose message names the field (the CLI turns it into exit code 78).
 */

export { ConfigError } from './config-error.js';
export type { HostPort, RedisTarget } from './config-redis.js';
export type { JwtAlgorithm };

/** Shortest HS secret accepted in production (RFC 7518 3.2: at least the hash size of HS256). */
export const MIN_SECRET_BYTES = 32;
export const MIN_API_KEY_LENGTH = 8;
export const MIN_METRICS_TOKEN_LENGTH = 16;

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

/**
 * A namespace that also serves Laravel Echo's Socket.IO connector (docs/laravel.md): channel
 * auth by the app's `authHost + authEndpoint`, Laravel's `redis` broadcaster as a publisher
 * (channels under `redisPrefix`), and laravel-echo-server's HTTP API for `apps`.
 */
const echoSchema = z
  .object({
    authHost: z
      .string()
      .regex(
        /^https?:\/\/[^/?#\s]+$/,
        'must be http(s)://host[:port] with no path (the path is authEndpoint)',
      )
      .default('http://localhost'),
    authEndpoint: z
      .string()
      .regex(/^\/[^\s?#]*$/, 'must be a path starting with "/"')
      .default('/broadcasting/auth'),
    authTimeoutMs: ms.min(100).max(60_000).default(5_000),
    maxConcurrentAuth: positiveInt.max(10_000).default(64),
    redisUrl: z
      .string()
      .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
      .nullable()
      .default(null),
    redisPrefix: z.string().max(100).default('laravel_database_'),
    subscribeRedis: z.boolean().default(true),
    apps: z
      .array(
        z
          .object({
            appId: z.string().min(1).max(100),
            key: z.string().min(8, 'an app key needs at least 8 characters').max(200),
          })
          .strict(),
      )
      .max(100)
      .default([]),
  })
  .strict();

/**
 * A namespace name: `/`, or `/` and segments joined by `/` (`/chat`, `/tenant-1/chat`), at most
 * 100 characters after the first `/`. No empty segment (`//`, a trailing `/`) and none that is `.`
 * or `..`: a client's URL reaches a namespace by its path, and a URL parser reads `/a/../b` as
 * `/b`, so such a name could never be connected to, and `/a/` next to `/a` would be two
 * namespaces that look like one.
 */
const NAMESPACE_NAME =
  /^(?=\/.{0,100}$)\/(?:(?!\.\.?(?:\/|$))[A-Za-z0-9_\-.]+(?:\/(?!\.\.?(?:\/|$))[A-Za-z0-9_\-.]+)*)?$/;
const NAMESPACE_GRAMMAR =
  'a namespace name is "/" followed by up to 100 letters, digits and _ - / ., in segments between single slashes that are not "." or ".." and with no trailing "/" (such as /chat or /tenant-1/chat)';

const namespaceSchema = z
  .object({
    echo: echoSchema.nullable().default(null),
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
    apiKeys: z
      .array(z.string().min(MIN_API_KEY_LENGTH, `an API key needs at least ${MIN_API_KEY_LENGTH} characters`))
      .default([]),
    rules: rightsSchema.prefault({}),
    limits: z
      .object({
        roomsPerConnection: positiveInt.max(100_000).default(128),
        payloadBytes: positiveInt.max(16 * 1024 * 1024).default(65536),
        roomNameLength: positiveInt.max(200).default(200),
        eventsPerSecond: positiveInt.max(1_000_000).default(100),
        historyLimit: positiveInt.max(100_000).default(1000),
        /** Connections of one `sub` in this namespace (cluster-wide in cluster mode); null: no limit. */
        connectionsPerUser: positiveInt.max(1_000_000).nullable().default(null),
      })
      .strict()
      .prefault({}),
    history: z
      .array(z.object({ pattern, size: z.number().int().min(0).max(100_000), ttlMs: ms }).strict())
      .default([{ pattern: '*', size: 100, ttlMs: 300_000 }]),
    presence: patterns.default(['*']),
  })
  .strict();

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
    namespaces: z.record(z.string().regex(NAMESPACE_NAME, NAMESPACE_GRAMMAR), namespaceSchema).default({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const metricsPort = c.metrics?.port;
    if (typeof metricsPort === 'number' && metricsPort !== 0 && metricsPort === c.port)
      ctx.addIssue({ code: 'custom', path: ['metrics', 'port'], message: 'must differ from port' });
  });

type RawConfig = z.output<typeof configSchema>;
type RawNamespace = z.output<typeof namespaceSchema>;

/** A namespace's Laravel Echo settings (docs/laravel.md). */
export type EchoConfig = z.output<typeof echoSchema>;

export interface NamespaceConfig extends Omit<RawNamespace, 'jwt' | 'echo'> {
  name: string;
  /** Set when the namespace also serves Laravel Echo clients; loadConfig always sets it (null when not). */
  echo?: EchoConfig | null;
  jwt: Omit<RawNamespace['jwt'], 'algorithms'> & { algorithms: JwtAlgorithm[] };
}

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
  /**
   * Keys made up for this run: one JWT secret shared by every namespace that had no key
   * (`jwtSecretFor` names them), and the API key of `/` when it had none. In development `main`
   * prints them; in production only a Laravel Echo namespace may lack keys (its clients need no
   * token), and what is made up for it is never printed, so nobody holds it.
   */
  generated: { jwtSecret?: string; jwtSecretFor: string[]; apiKey?: string };
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

/** How an error names a config path: `config a.b`, or `ROOMCAST_X (config a.b)` when an env var set it. */
function fieldLabel(path: string, envNames: ReadonlyMap<string, string>): string {
  const fromEnv = [...envNames].find(([prefix]) => path === prefix || path.startsWith(`${prefix}.`));
  return fromEnv ? `${fromEnv[1]} (config ${path})` : `config ${path}`;
}

interface FinishContext {
  production: boolean;
  generated: Config['generated'];
  /** The env var the namespace's secret came from, for messages. */
  secretVar: string | undefined;
  /** Config path -> the env var that set it (errors name both). */
  envNames: ReadonlyMap<string, string>;
}

function finishNamespace(name: string, ns: RawNamespace, ctx: FinishContext): NamespaceConfig {
  const { production, generated } = ctx;
  const field = `config namespaces.${name}`;
  const jwt = { ...ns.jwt };
  const keys: Array<{ keyField: string; key: KeyObject; usable: JwtAlgorithm[] }> = [];
  ns.jwt.publicKeys.forEach((pem, i) => {
    const keyField = fieldLabel(`namespaces.${name}.jwt.publicKeys.${i}`, ctx.envNames);
    let key: KeyObject;
    try {
      key = parsePublicKey(pem);
    } catch {
      throw new ConfigError(keyField, 'not a PEM public key');
    }
    // A key no algorithm verifies would refuse every token, while the broker looked healthy.
    const usable = algorithmsForKey(key);
    if (usable.length === 0)
      throw new ConfigError(
        keyField,
        `key type ${keyKind(key)}: no JWT algorithm roomcast accepts verifies it; use an RSA key ` +
          '(RS256-RS512, PS256-PS512), an RSA-PSS key that names its hash (PS of that hash), or an EC ' +
          'key on P-256, P-384 or P-521 (ES256, ES384, ES512)',
      );
    keys.push({ keyField, key, usable });
  });
  if (jwt.secrets.length === 0 && jwt.publicKeys.length === 0) {
    // An Echo namespace's clients need no token (roomcast SDK clients there do).
    if (production && !ns.echo) throw new ConfigError(`${field}.jwt`, missingKeyMessage(name));
    generated.jwtSecret ??= randomBytes(32).toString('base64url');
    generated.jwtSecretFor.push(name);
    jwt.secrets = [generated.jwtSecret];
  }
  const algorithms = jwt.algorithms ?? inferAlgorithms(jwt.secrets, jwt.publicKeys);
  for (const alg of algorithms) {
    const symmetric = alg.startsWith('HS');
    const algorithmsField = fieldLabel(`namespaces.${name}.jwt.algorithms`, ctx.envNames);
    if (symmetric && jwt.secrets.length === 0)
      throw new ConfigError(algorithmsField, `${alg} needs a secret (ROOMCAST_JWT_SECRET)`);
    if (!symmetric && jwt.publicKeys.length === 0)
      throw new ConfigError(algorithmsField, `${alg} needs a public key (ROOMCAST_JWT_PUBLIC_KEY)`);
  }
  for (const { keyField, key, usable } of keys)
    if (!algorithms.some((alg) => usable.includes(alg)))
      throw new ConfigError(
        keyField,
        `key type ${keyKind(key)}: none of jwt.algorithms (${algorithms.join(', ')}) verifies it; ` +
          `it takes ${usable.join(', ')}`,
      );
  if (production && algorithms.some((alg) => alg.startsWith('HS')))
    checkSecretLengths(field, jwt.secrets, ctx);
  let apiKeys = ns.apiKeys;
  if (apiKeys.length === 0 && name === '/') {
    // An Echo namespace may be served without roomcast's own API (laravel-echo-server's has app keys).
    if (production && !ns.echo)
      throw new ConfigError(`${field}.apiKeys`, 'no API key: set ROOMCAST_API_KEYS (comma list of keys)');
    generated.apiKey ??= `rc_${randomBytes(18).toString('base64url')}`;
    apiKeys = [generated.apiKey];
  }
  return { ...ns, name, jwt: { ...jwt, algorithms }, apiKeys };
}

/** A short HS secret can be brute-forced from one token; production refuses it. */
function checkSecretLengths(field: string, secrets: readonly string[], ctx: FinishContext): void {
  secrets.forEach((secret, i) => {
    const bytes = Buffer.byteLength(secret, 'utf8');
    if (bytes >= MIN_SECRET_BYTES) return;
    throw new ConfigError(
      ctx.secretVar ?? `${field}.jwt.secrets.${i}`,
      `an HS secret needs at least ${MIN_SECRET_BYTES} bytes in production, this one has ${bytes} (make one with: openssl rand -base64 32)`,
    );
  });
}

function missingKeyMessage(ns: string): string {
  return ns === '/'
    ? 'no JWT key: set ROOMCAST_JWT_SECRET or ROOMCAST_JWT_PUBLIC_KEY'
    : 'no JWT key: set jwt.secrets or jwt.publicKeys in the config file';
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
