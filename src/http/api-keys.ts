import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config.js';
import { RoomcastError } from '../errors.js';
import type { LimitHolder } from '../socket/event-limit.js';

/**
 * Who called the server API: one configured key, and the namespaces it opens. There is one caller
 * object per key, so it also holds the key's rate-limit bucket.
 */
export interface ApiCaller extends LimitHolder {
  /** A short, non-secret id of the key (a hash prefix), for logs. */
  readonly keyId: string;
  readonly namespaces: ReadonlySet<string>;
}

/**
 * The API keys of every namespace (`config.namespaces[ns].apiKeys`). Several keys may be valid at
 * once so they can rotate. A presented key is hashed and compared with every configured hash in
 * constant time (`timingSafeEqual` over equal-length SHA-256 digests), with no early exit, so
 * neither the length nor the prefix of a key leaks through timing.
 *
 * @example
 * const keys = createApiKeyring(config);
 * const caller = keys.identify(req.headers.authorization); // throws 401 unauthorized
 * keys.authorize(caller, '/');                             // throws 401 unless the key opens "/"
 */
export interface ApiKeyring {
  /**
   * `connection`: the request's socket. A keep-alive connection that presents the same header
   * again skips the hash (see `createApiKeyring`).
   */
  identify(authorization: string | undefined, connection?: object): ApiCaller;
  authorize(caller: ApiCaller, ns: string): void;
}

interface KeyEntry {
  digest: Buffer;
  caller: ApiCaller & { namespaces: Set<string> };
}

export function createApiKeyring(config: Config): ApiKeyring {
  const entries = new Map<string, KeyEntry>();
  for (const ns of Object.values(config.namespaces)) {
    for (const key of ns.apiKeys) {
      const digest = sha256(key);
      const hex = digest.toString('hex');
      const entry = entries.get(hex) ?? {
        digest,
        caller: { keyId: hex.slice(0, 16), namespaces: new Set<string>() },
      };
      entry.caller.namespaces.add(ns.name);
      entries.set(hex, entry);
    }
  }
  const all = [...entries.values()];
  /**
   * Per keep-alive connection, the Authorization header it last passed with. A publisher sends the
   * same header on every request of a connection, and hashing it again cost about 5% of a publish
   * request. The header is compared in constant time too (`timingSafeEqual`, equal lengths only),
   * and only a header that passed is kept, so this path tells a caller nothing the hash did not.
   */
  const passed = new WeakMap<object, { header: Buffer; caller: ApiCaller }>();

  return {
    identify(authorization, connection) {
      if (connection !== undefined && typeof authorization === 'string') {
        const last = passed.get(connection);
        if (last && last.header.length === Buffer.byteLength(authorization)) {
          if (timingSafeEqual(last.header, Buffer.from(authorization))) return last.caller;
        }
      }
      const presented = bearer(authorization);
      if (presented === null)
        throw new RoomcastError('unauthorized', 'an API key is required (Authorization: Bearer <key>)');
      const digest = sha256(presented);
      let match: KeyEntry | undefined;
      for (const entry of all) {
        // Every entry is compared, whether or not one matched already.
        if (timingSafeEqual(entry.digest, digest) && !match) match = entry;
      }
      if (!match) throw new RoomcastError('unauthorized', 'the API key is not valid');
      if (connection !== undefined)
        passed.set(connection, { header: Buffer.from(authorization!), caller: match.caller });
      return match.caller;
    },
    authorize(caller, ns) {
      if (!Object.hasOwn(config.namespaces, ns))
        throw new RoomcastError('not_found', `unknown namespace "${ns}"`);
      if (!caller.namespaces.has(ns))
        throw new RoomcastError('unauthorized', `the API key is not valid for namespace "${ns}"`);
    },
  };
}

/** The token of an `Authorization: Bearer <token>` header, or null. */
export function bearer(header: string | undefined): string | null {
  if (typeof header !== 'string') return null;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return m ? m[1]! : null;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}
