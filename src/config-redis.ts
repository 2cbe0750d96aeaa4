import { z } from 'zod';
import { ms } from './config-namespace.js';

/**
 * The `redis` block of the configuration (README "Configuration", docs/cluster.md): where Redis is
 * (exactly one of `url`, `sentinels`, `cluster`, or none for one node in memory), and how the
 * cluster uses it. `redisTarget()` turns a valid block into the one value the cluster code switches
 * on.
 */

/** `host:port`, `[v6]:port`; the port 1 to 65535. */
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;

const hostPort = z
  .string()
  .refine(
    (s) => parseHostPort(s) !== null,
    'expected host:port (e.g. 10.0.0.5:26379), the port from 1 to 65535',
  );
const hostPorts = z.array(hostPort).min(1, 'give at least one host:port').max(100).nullable().default(null);
const password = z.string().min(1).max(1024).nullable().default(null);

export const redisSchema = z
  .object({
    url: z
      .string()
      .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
      .nullable()
      .default(null),
    sentinels: hostPorts,
    /** Null: `mymaster` when `sentinels` is set (left null so that setting it without them is seen). */
    sentinelMaster: z.string().min(1).max(200).nullable().default(null),
    sentinelPassword: password,
    cluster: hostPorts,
    password,
    tls: z.boolean().default(false),
    /**
     * With `url`: check, in every publish and read, that the primary holds the room's last writes
     * (as Sentinel and Cluster modes always do), for an endpoint that fails over behind one address.
     */
    failoverCheck: z.boolean().default(false),
    mode: z.enum(['sharded', 'classic']).default('sharded'),
    keyPrefix: z.string().min(1).max(100).default('roomcast'),
    presenceTtlMs: ms.min(1000).default(15_000),
    heartbeatMs: ms.min(100).default(5_000),
    requestTimeoutMs: ms.min(100).max(10_000).default(2_500),
  })
  .strict()
  .superRefine((r, ctx) => {
    const set = (['url', 'sentinels', 'cluster'] as const).filter((k) => r[k] != null);
    if (set.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        message: `set only one of ${MODE_FIELDS}; got ${set.map((k) => `redis.${k}`).join(' and ')}`,
      });
    }
    if (typeof r.url === 'string' && r.password != null)
      ctx.addIssue({
        code: 'custom',
        path: ['password'],
        message: 'with redis.url, put the password in the URL',
      });
    if (r.failoverCheck && r.url == null)
      ctx.addIssue({
        code: 'custom',
        path: ['failoverCheck'],
        message:
          r.sentinels != null || r.cluster != null
            ? 'is for redis.url only: with redis.sentinels or redis.cluster the check is always on'
            : 'is for redis.url only, and no Redis is set',
      });
    if (typeof r.url === 'string' && r.tls === true && r.url.startsWith('redis://'))
      ctx.addIssue({ code: 'custom', path: ['tls'], message: 'with redis.url, use a rediss:// URL for TLS' });
    if (r.sentinelPassword != null && r.sentinels == null)
      ctx.addIssue({ code: 'custom', path: ['sentinelPassword'], message: 'needs redis.sentinels' });
    if (r.sentinelMaster != null && r.sentinels == null)
      ctx.addIssue({ code: 'custom', path: ['sentinelMaster'], message: 'needs redis.sentinels' });
    if (set.length === 0 && r.password != null)
      ctx.addIssue({ code: 'custom', path: ['password'], message: 'needs redis.sentinels or redis.cluster' });
    if (set.length === 0 && r.tls === true)
      ctx.addIssue({
        code: 'custom',
        path: ['tls'],
        message: 'needs redis.sentinels or redis.cluster (with redis.url, use a rediss:// URL)',
      });
    if (r.cluster != null && r.mode === 'classic')
      ctx.addIssue({
        code: 'custom',
        path: ['mode'],
        message:
          'a Redis Cluster always uses sharded pub/sub; "classic" is for one primary or Sentinel (Redis 6)',
      });
    if (typeof r.heartbeatMs === 'number' && typeof r.presenceTtlMs === 'number') {
      // Fewer than two heartbeats per TTL and a busy node would be reaped while alive.
      if (r.heartbeatMs * 2 > r.presenceTtlMs)
        ctx.addIssue({
          code: 'custom',
          path: ['heartbeatMs'],
          message: 'must be at most half of redis.presenceTtlMs',
        });
    }
  });

const MODE_FIELDS =
  'redis.url (ROOMCAST_REDIS_URL), redis.sentinels (ROOMCAST_REDIS_SENTINELS), redis.cluster (ROOMCAST_REDIS_CLUSTER)';

export type RawRedisConfig = z.output<typeof redisSchema>;

export interface HostPort {
  host: string;
  port: number;
}

/** Where the cluster's Redis is; `null` is one node in memory. */
export type RedisTarget =
  | { kind: 'url'; url: string; tls: boolean }
  | {
      kind: 'sentinel';
      sentinels: HostPort[];
      /** The Sentinel master group name (`redis.sentinelMaster`). */
      name: string;
      sentinelPassword: string | null;
      password: string | null;
      tls: boolean;
    }
  | { kind: 'cluster'; nodes: HostPort[]; password: string | null; tls: boolean };

/** The target of a validated `redis` block. */
export function redisTarget(r: RawRedisConfig): RedisTarget | null {
  if (r.url !== null) return { kind: 'url', url: r.url, tls: r.url.startsWith('rediss://') };
  if (r.sentinels !== null) {
    return {
      kind: 'sentinel',
      sentinels: r.sentinels.map(toHostPort),
      name: r.sentinelMaster ?? 'mymaster',
      sentinelPassword: r.sentinelPassword,
      password: r.password,
      tls: r.tls,
    };
  }
  if (r.cluster !== null)
    return { kind: 'cluster', nodes: r.cluster.map(toHostPort), password: r.password, tls: r.tls };
  return null;
}

/** `host:port` (IPv6 in brackets) as `{ host, port }`, or null when malformed. */
export function parseHostPort(value: string): HostPort | null {
  const m = HOST_PORT.exec(value.trim());
  if (!m) return null;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return null;
  const host = m[1]!.startsWith('[') ? m[1]!.slice(1, -1) : m[1]!;
  return { host, port };
}

function toHostPort(value: string): HostPort {
  return parseHostPort(value) as HostPort;
}
