/**
 * JWS signature verification (RFC 7515 §5.2 step 8, RFC 7518 §3) with node:crypto's one-shot
 * `verify`, synchronously, on keys jose imported from the issuer's JWKS.
 *
 * jose's `compactVerify` verifies through WebCrypto, which runs each verification as a job on
 * libuv's thread pool: the same native call Node's `crypto.verify` makes (a SignJob with the same
 * key handle, digest, padding, salt length and signature encoding), plus a thread hand-off and a
 * chain of Promises that cost about as much CPU again as an RS256 verification itself.
 *
 * What jose checks of a key before it verifies is checked here once per key and algorithm, when
 * the key is imported (`jwsKey`): a public CryptoKey imported for exactly this algorithm (WebCrypto
 * algorithm name, hash and curve), usable for `verify`, and for RSA at least 2048 bits. What jose
 * checks of the token (three segments, a string `alg` on the allowlist, no `crit`, no `b64`)
 * compact.ts and checkHeaderPolicy check, more strictly, before a key is looked up. The table has
 * asymmetric algorithms only: no entry exists for `none` or HMAC, so no key verifies them.
 *
 * One rule is stricter than jose: an RSA signature must be exactly as long as the modulus (RFC
 * 8017 §8.1.2 and §8.2.2, step 1). OpenSSL already holds PKCS #1 v1.5 signatures to that, but
 * takes an RSA-PSS signature with its leading zero bytes dropped, a second spelling of the token.
 */
import { KeyObject, constants, verify } from 'node:crypto';
import type { VerifyKeyObjectInput } from 'node:crypto';
import type { CryptoKey } from 'jose';

/** How one JWS algorithm verifies, and the WebCrypto key jose imports for it. */
interface AlgorithmSpec {
  /** `algorithm.name` of the CryptoKey jose imports for this algorithm. */
  readonly keyAlgorithm: 'RSASSA-PKCS1-v1_5' | 'RSA-PSS' | 'ECDSA' | 'Ed25519';
  /** `algorithm.hash.name` of that CryptoKey (RSA keys are bound to a hash; others are not). */
  readonly keyHash?: string;
  /** `algorithm.namedCurve` of that CryptoKey (ECDSA). */
  readonly keyCurve?: string;
  /** The digest node:crypto signs with; null for Ed25519, which hashes internally. */
  readonly digest: 'sha256' | 'sha384' | 'sha512' | null;
  /** RSA-PSS salt length: the hash length (RFC 7518 §3.5). */
  readonly saltLength?: number;
  /** The one valid signature length, where it is fixed: ECDSA r‖s (RFC 7518 §3.4), Ed25519. */
  readonly signatureBytes?: number;
}

const rsa = (bits: 256 | 384 | 512): AlgorithmSpec => ({ keyAlgorithm: 'RSASSA-PKCS1-v1_5', keyHash: `SHA-${bits}`, digest: `sha${bits}` });
const pss = (bits: 256 | 384 | 512): AlgorithmSpec => ({ keyAlgorithm: 'RSA-PSS', keyHash: `SHA-${bits}`, digest: `sha${bits}`, saltLength: bits / 8 });
const ecdsa = (bits: 256 | 384 | 512, curve: string, signatureBytes: number): AlgorithmSpec => ({
  keyAlgorithm: 'ECDSA',
  keyCurve: curve,
  digest: `sha${bits}`,
  signatureBytes,
});
const ed25519: AlgorithmSpec = { keyAlgorithm: 'Ed25519', digest: null, signatureBytes: 64 };

/** Every algorithm jwk-set.ts can import a key for (algorithmsFor), and nothing else. */
const ALGORITHMS: ReadonlyMap<string, AlgorithmSpec> = new Map([
  ['RS256', rsa(256)],
  ['RS384', rsa(384)],
  ['RS512', rsa(512)],
  ['PS256', pss(256)],
  ['PS384', pss(384)],
  ['PS512', pss(512)],
  ['ES256', ecdsa(256, 'P-256', 64)],
  ['ES384', ecdsa(384, 'P-384', 96)],
  ['ES512', ecdsa(512, 'P-521', 132)],
  ['EdDSA', ed25519],
  ['Ed25519', ed25519],
]);

/** jose's floor for RSA keys (and RFC 7518 §3.3's). */
export const MIN_RSA_BITS = 2048;

/** A key that verifies signatures of one JWS algorithm, checked once for that algorithm. */
export interface JwsKey {
  readonly alg: string;
  /** The key as jose imported it: what jose would verify with (tests use it as the reference). */
  readonly cryptoKey: CryptoKey;
  readonly digest: AlgorithmSpec['digest'];
  /** node:crypto's view of the same key, with the padding, salt length or signature encoding. */
  readonly input: KeyObject | VerifyKeyObjectInput;
  /** The exact signature length this key accepts. */
  readonly signatureBytes: number;
}

/** The members of a CryptoKey's `algorithm` that say what it was imported for. */
interface ImportedAlgorithm {
  readonly name?: unknown;
  readonly hash?: { readonly name?: unknown };
  readonly namedCurve?: unknown;
  readonly modulusLength?: unknown;
}

/**
 * The verification key for `alg`, or undefined when `key` must not verify it: the checks jose's
 * compactVerify makes of a key on every call (checkCryptoKey, checkModulusLength), made once.
 */
export function jwsKey(alg: string, key: CryptoKey): JwsKey | undefined {
  const spec = ALGORITHMS.get(alg);
  if (spec === undefined || key.type !== 'public' || !key.usages.includes('verify')) return undefined;
  const a = key.algorithm as ImportedAlgorithm;
  if (a.name !== spec.keyAlgorithm) return undefined;
  if (spec.keyHash !== undefined && a.hash?.name !== spec.keyHash) return undefined;
  if (spec.keyCurve !== undefined && a.namedCurve !== spec.keyCurve) return undefined;
  const keyObject = KeyObject.from(key);
  let signatureBytes = spec.signatureBytes;
  if (signatureBytes === undefined) {
    // RSA: the modulus length jose checks, and the signature length it fixes (k octets).
    const bits = a.modulusLength;
    if (typeof bits !== 'number' || bits < MIN_RSA_BITS || keyObject.asymmetricKeyDetails?.modulusLength !== bits) return undefined;
    signatureBytes = Math.ceil(bits / 8);
  }
  const input: KeyObject | VerifyKeyObjectInput =
    spec.keyAlgorithm === 'RSA-PSS'
      ? Object.freeze({ key: keyObject, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: spec.saltLength as number })
      : spec.keyAlgorithm === 'ECDSA'
        ? Object.freeze({ key: keyObject, dsaEncoding: 'ieee-p1363' as const })
        : keyObject;
  return Object.freeze({ alg, cryptoKey: key, digest: spec.digest, input, signatureBytes });
}

/**
 * True when `signature` is `key`'s signature of `signingInput` (the ASCII bytes of
 * `header.payload`) under `alg`. A signature of the wrong length, a key for another algorithm, or
 * anything OpenSSL refuses is false. Never throws.
 */
export function verifyJws(key: JwsKey, alg: string, signingInput: Uint8Array, signature: Uint8Array): boolean {
  if (key.alg !== alg || signature.length !== key.signatureBytes) return false;
  try {
    return verify(key.digest, signingInput, key.input, signature);
  } catch {
    return false;
  }
}
