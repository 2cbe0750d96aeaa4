import type { KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { RoomcastError } from '../errors.js';
import type { RoomRights, UserClaims } from '../protocol.js';
import { checkValue } from '../rooms/payload.js';
import { type JwtAlgorithm, parsePublicKey, secretKey } from './keys.js';

/** The token settings of one namespace (its config's `jwt` block). */
export interface JwtSettings {
  secrets: readonly string[];
  publicKeys: readonly string[];
  algorithms: readonly JwtAlgorithm[];
  clockToleranceSec: number;
  issuer?: string | null | undefined;
  audience?: string | null | undefined;
  requireExp: boolean;
}

/**
 * Verifies user JWTs for one namespace. Keys are parsed once; several secrets or public keys may be
 * configured at once so keys can rotate. HS* tokens are checked only against secrets and RS/ES/PS
 * tokens only against public keys, so a token signed with a public key as an HMAC secret fails.
 *
 * @example
 * const verifier = createVerifier(config.namespaces['/']);
 * const claims = verifier.verify(token); // throws RoomcastError token_missing | token_invalid | token_expired
 */
export interface Verifier {
  /** `missing`: the `token_missing` message, naming where this transport takes the token. */
  verify(token: unknown, opts?: { missing?: string }): UserClaims;
}

const MAX_TOKEN_LENGTH = 16 * 1024;
const MAX_SUB_LENGTH = 256;
/** The latest date JavaScript holds (8.64e15 ms), in seconds. */
const MAX_EXP_SECONDS = 8.64e12;

export function createVerifier(ns: { jwt: JwtSettings }): Verifier {
  const secrets = ns.jwt.secrets.map(secretKey);
  const publicKeys = ns.jwt.publicKeys.map(parsePublicKey);
  const allowed = new Set<string>(ns.jwt.algorithms);
  const options: jwt.VerifyOptions = {
    clockTolerance: ns.jwt.clockToleranceSec,
    ...(ns.jwt.issuer ? { issuer: ns.jwt.issuer } : {}),
    ...(ns.jwt.audience ? { audience: ns.jwt.audience } : {}),
  };

  // One options object per algorithm, made once (verify runs on every connection).
  const byAlg = new Map<JwtAlgorithm, jwt.VerifyOptions>();
  const optionsFor = (alg: JwtAlgorithm) => {
    const known = byAlg.get(alg);
    if (known) return known;
    const made = { ...options, algorithms: [alg] };
    byAlg.set(alg, made);
    return made;
  };

  function verify(token: unknown, opts: { missing?: string } = {}): UserClaims {
    if (token === undefined || token === null || token === '') {
      throw new RoomcastError('token_missing', opts.missing ?? 'a user token is required');
    }
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) {
      throw new RoomcastError('token_invalid', 'token must be a JWT string');
    }
    const alg = headerAlgorithm(token);
    if (!alg || !allowed.has(alg)) {
      throw new RoomcastError('token_invalid', `token algorithm ${alg ?? '(none)'} is not allowed`);
    }
    const keys = alg.startsWith('HS') ? secrets : publicKeys;
    const payload = verifyWithAny(token, keys, optionsFor(alg as JwtAlgorithm));
    return checkClaims(payload, ns.jwt.requireExp);
  }

  return { verify };
}

/**
 * The header's `alg`, to pick the keys to verify with (secrets or public keys). Only the header is
 * decoded (`jwt.verify` decodes and checks the whole token after this): a full `jwt.decode` costs
 * several times as much on every connection.
 */
function headerAlgorithm(token: string): string | undefined {
  const dot = token.indexOf('.');
  let header: unknown;
  try {
    header = dot > 0 ? JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) : null;
  } catch {
    header = null;
  }
  if (typeof header !== 'object' || header === null || token.indexOf('.', dot + 1) < 0) {
    throw new RoomcastError('token_invalid', 'token is not a well-formed JWT');
  }
  const alg = (header as { alg?: unknown }).alg;
  return typeof alg === 'string' ? alg : undefined;
}

function verifyWithAny(token: string, keys: KeyObject[], options: jwt.VerifyOptions): jwt.JwtPayload {
  let last: unknown;
  for (const key of keys) {
    try {
      const payload = jwt.verify(token, key, options);
      if (typeof payload === 'string') throw new RoomcastError('token_invalid', 'token payload is not JSON');
      return payload;
    } catch (err) {
      if (err instanceof jwt.TokenExpiredError) throw new RoomcastError('token_expired', 'token has expired');
      if (err instanceof RoomcastError) throw err;
      last = err;
    }
  }
  const why = last instanceof Error ? last.message : 'no key to verify it';
  throw new RoomcastError('token_invalid', `token rejected: ${why}`);
}

function checkClaims(payload: jwt.JwtPayload, requireExp: boolean): UserClaims {
  const { sub, exp, rooms, info, iat } = payload;
  if (typeof sub !== 'string' || sub.length === 0 || sub.length > MAX_SUB_LENGTH || !sub.isWellFormed()) {
    throw new RoomcastError('token_invalid', 'token has no valid "sub" claim');
  }
  if (exp === undefined && requireExp) throw new RoomcastError('token_invalid', 'token has no "exp" claim');
  if (exp !== undefined && typeof exp !== 'number')
    throw new RoomcastError('token_invalid', '"exp" must be a number');
  // In ms it must still be a date (`expiresAt`); past that it would read as "no expiry".
  if (typeof exp === 'number' && !(Math.abs(exp) <= MAX_EXP_SECONDS))
    throw new RoomcastError('token_invalid', '"exp" is out of range');
  try {
    checkValue(info);
  } catch (err) {
    // `info` goes into envelopes and presence as the user's: what `data` may not hold, it may not.
    throw new RoomcastError('token_invalid', `"info": ${(err as Error).message.replace(/^data /, '')}`);
  }
  const claims: UserClaims = { sub, rooms: parseRights(rooms), info: info ?? null };
  if (exp !== undefined) claims.exp = exp;
  if (typeof iat === 'number') claims.iat = iat;
  return claims;
}

function parseRights(value: unknown): RoomRights {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new RoomcastError('token_invalid', '"rooms" claim must be an object');
  }
  const out: RoomRights = {};
  for (const right of ['subscribe', 'publish', 'presence'] as const) {
    const list = (value as Record<string, unknown>)[right];
    if (list === undefined) continue;
    if (!Array.isArray(list) || !list.every((p) => typeof p === 'string')) {
      throw new RoomcastError('token_invalid', `"rooms.${right}" must be an array of strings`);
    }
    out[right] = list as string[];
  }
  return out;
}
