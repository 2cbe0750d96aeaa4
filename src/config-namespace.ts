import { type KeyObject, randomBytes } from 'node:crypto';
import { z } from 'zod';
import {
  algorithmsForKey,
  inferAlgorithms,
  JWT_ALGORITHMS,
  type JwtAlgorithm,
  keyKind,
  parsePublicKey,
} from './auth/keys.js';
import { ConfigError, fieldLabel } from './config-error.js';
import { compilePattern } from './rooms/patterns.js';

/**
 * The `namespaces` block of the configuration (README "Configuration"): each namespace's JWT keys,
 * API keys, rights, limits, history and presence rules, and its Laravel Echo settings; and the
 * checks that turn one into a `NamespaceConfig` (`finishNamespace`).
 */

/** Shortest HS secret accepted in production (RFC 7518 3.2: at least the hash size of HS256). */
export const MIN_SECRET_BYTES = 32;
export const MIN_API_KEY_LENGTH = 8;

const pattern = z.string().min(1).max(400).refine(isValidPattern, 'not a valid room pattern');
const patterns = z.array(pattern).max(1000);
/** A duration in ms, up to 30 days (the blocks of the config share it). */
export const ms = z
  .number()
  .int()
  .min(0)
  .max(30 * 24 * 3600 * 1000);
export const positiveInt = z.number().int().min(1);

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
/** A key of the `namespaces` block. */
export const namespaceName = z.string().regex(NAMESPACE_NAME, NAMESPACE_GRAMMAR);

export const namespaceSchema = z
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

export type RawNamespace = z.output<typeof namespaceSchema>;

/** A namespace's Laravel Echo settings (docs/laravel.md). */
export type EchoConfig = z.output<typeof echoSchema>;

export interface NamespaceConfig extends Omit<RawNamespace, 'jwt' | 'echo'> {
  name: string;
  /** Set when the namespace also serves Laravel Echo clients; loadConfig always sets it (null when not). */
  echo?: EchoConfig | null;
  jwt: Omit<RawNamespace['jwt'], 'algorithms'> & { algorithms: JwtAlgorithm[] };
}

/**
 * Keys made up for this run: one JWT secret shared by every namespace that had no key
 * (`jwtSecretFor` names them), and the API key of `/` when it had none. In development `main`
 * prints them; in production only a Laravel Echo namespace may lack keys (its clients need no
 * token), and what is made up for it is never printed, so nobody holds it.
 */
export interface GeneratedKeys {
  jwtSecret?: string;
  jwtSecretFor: string[];
  apiKey?: string;
}

export interface FinishContext {
  production: boolean;
  generated: GeneratedKeys;
  /** The env var the namespace's secret came from, for messages. */
  secretVar: string | undefined;
  /** Config path -> the env var that set it (errors name both). */
  envNames: ReadonlyMap<string, string>;
}

/**
 * A namespace's settings as the broker uses them: its JWT keys checked against its algorithms, and
 * a key made up (into `ctx.generated`) where it has none and may run without.
 */
export function finishNamespace(name: string, ns: RawNamespace, ctx: FinishContext): NamespaceConfig {
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
