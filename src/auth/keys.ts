import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';

/** Every JWT algorithm roomcast accepts; HS* take a secret, the others a public key. */
export const JWT_ALGORITHMS = [
  'HS256',
  'HS384',
  'HS512',
  'RS256',
  'RS384',
  'RS512',
  'ES256',
  'ES384',
  'ES512',
  'PS256',
  'PS384',
  'PS512',
] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

/** Parses a PEM public key (or certificate); throws when it is not one. */
export function parsePublicKey(pem: string): KeyObject {
  const key = createPublicKey(pem);
  if (key.type !== 'public') throw new Error('not a public key');
  return key;
}

export function secretKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

/**
 * Algorithms to accept when the config names none: the HS family for secrets (HS256 first: what
 * `roomcast token` signs with), and by key type for PEM keys. A secret never opens RS/ES/PS, and a
 * public key never opens HS, so the HS/RS key-confusion attack has nothing to work with.
 */
export function inferAlgorithms(secrets: readonly string[], publicKeys: readonly string[]): JwtAlgorithm[] {
  const algs = new Set<JwtAlgorithm>();
  if (secrets.length) for (const alg of ['HS256', 'HS384', 'HS512'] as const) algs.add(alg);
  for (const pem of publicKeys) {
    let key: KeyObject;
    try {
      key = parsePublicKey(pem);
    } catch {
      continue;
    }
    for (const alg of algorithmsForKey(key)) algs.add(alg);
  }
  return [...algs];
}

/**
 * The algorithms jsonwebtoken verifies with `key`: RS and PS for RSA, PS for RSA-PSS, and for EC
 * the one ES algorithm of its curve (ES256 P-256, ES384 P-384, ES512 P-521). None for any other
 * key (Ed25519, secp256k1, DSA): jsonwebtoken has no algorithm for them.
 */
export function algorithmsForKey(key: KeyObject): JwtAlgorithm[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'rsa-pss': {
      // jsonwebtoken takes an RSA-PSS key only for the PS algorithm of the hash it names (with
      // the same MGF1 hash and a salt no longer than the hash): a key without them, for none.
      const d = key.asymmetricKeyDetails ?? {};
      return (['PS256', 'PS384', 'PS512'] as const).filter((alg) => {
        const bits = Number(alg.slice(2));
        const salt = d.saltLength === undefined || d.saltLength <= bits >> 3;
        return d.hashAlgorithm === `sha${bits}` && d.mgf1HashAlgorithm === d.hashAlgorithm && salt;
      });
    }
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return ['ES256'];
      if (curve === 'secp384r1') return ['ES384'];
      if (curve === 'secp521r1') return ['ES512'];
      return [];
    }
    default:
      return [];
  }
}

/** A key's type for messages: `rsa`, `ec (secp256k1)`, `ed25519`, `rsa-pss (hash sha256, mgf1 sha1)`. */
export function keyKind(key: KeyObject): string {
  const d = key.asymmetricKeyDetails ?? {};
  if (d.namedCurve) return `${key.asymmetricKeyType} (${d.namedCurve})`;
  if (key.asymmetricKeyType === 'rsa-pss')
    return d.hashAlgorithm
      ? `rsa-pss (hash ${d.hashAlgorithm}, mgf1 ${d.mgf1HashAlgorithm}, salt ${d.saltLength})`
      : 'rsa-pss (no hash parameters)';
  return String(key.asymmetricKeyType);
}
