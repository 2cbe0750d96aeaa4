import jwt from 'jsonwebtoken';
import type { RoomRights } from '../protocol.js';
import type { JwtSettings } from './verify.js';

export interface MintOptions {
  sub: string;
  rooms?: RoomRights;
  info?: unknown;
  /** Lifetime in seconds; 0 mints a token with no `exp`. */
  ttlSec: number;
  /** PEM private key for RS/ES/PS namespaces; HS namespaces use their first secret. */
  privateKey?: string;
}

/**
 * Mints a user token a namespace accepts (the CLI's `roomcast token`, the dev banner, tests).
 *
 * @example
 * mintToken(config.namespaces['/'], { sub: 'alice', rooms: { subscribe: ['chat:*'] }, ttlSec: 3600 });
 */
export function mintToken(ns: { jwt: JwtSettings }, opts: MintOptions): string {
  const payload: Record<string, unknown> = { sub: opts.sub };
  if (opts.rooms) payload.rooms = opts.rooms;
  if (opts.info !== undefined) payload.info = opts.info;
  const signOpts: jwt.SignOptions = {};
  if (opts.ttlSec > 0) signOpts.expiresIn = opts.ttlSec;
  if (ns.jwt.issuer) signOpts.issuer = ns.jwt.issuer;
  if (ns.jwt.audience) signOpts.audience = ns.jwt.audience;
  if (opts.privateKey) {
    const alg = ns.jwt.algorithms.find((a) => !a.startsWith('HS'));
    if (!alg) throw new Error('this namespace accepts no RS/ES/PS algorithm');
    return jwt.sign(payload, opts.privateKey, { ...signOpts, algorithm: alg });
  }
  const alg = ns.jwt.algorithms.find((a) => a.startsWith('HS'));
  const secret = ns.jwt.secrets[0];
  if (!alg || !secret)
    throw new Error('this namespace has no HS secret: pass --private-key to sign with RS/ES/PS');
  return jwt.sign(payload, secret, { ...signOpts, algorithm: alg });
}

/** Parses `90`, `30s`, `15m`, `1h`, `7d` into seconds; throws on anything else. */
export function parseTtl(value: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(value.trim());
  if (!m) throw new Error(`--ttl: expected a number with s, m, h or d, got "${value}"`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}
