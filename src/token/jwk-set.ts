/**
 * Turns a fetched JWKS document into imported verification keys, strictly: a set that exposes
 * private key material is refused as a whole (the issuer is misconfigured and its tokens can be
 * forged), keys we cannot or must not use (encryption keys, symmetric keys, unknown curves,
 * algorithms outside the issuer's allowlist, RSA keys under 2048 bits) are skipped and counted.
 */
import { importJWK } from 'jose';
import { KID_PATTERN } from './compact.ts';
import { decodeUtf8Strict, parseStrictJsonObject } from './json-strict.ts';
import { jwsKey } from './signature.ts';
import type { JwsKey } from './signature.ts';

export interface VerificationKey {
  /** `kid` of the JWK, undefined when the issuer published none. */
  readonly kid: string | undefined;
  /** Imported key per allowed algorithm this JWK can verify. */
  readonly byAlg: ReadonlyMap<string, JwsKey>;
}

export type KeySetResult =
  | { readonly ok: true; readonly keys: readonly VerificationKey[]; readonly ignored: number }
  | { readonly ok: false; readonly problem: 'not_json' | 'no_keys_array' | 'too_many_keys' | 'private_key' };

export const MAX_KEYS = 100;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** Which JWS algorithms a public JWK of this type can verify. */
export function algorithmsFor(jwk: Readonly<Record<string, unknown>>): readonly string[] {
  switch (jwk['kty']) {
    case 'RSA':
      return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
    case 'EC':
      return jwk['crv'] === 'P-256' ? ['ES256'] : jwk['crv'] === 'P-384' ? ['ES384'] : jwk['crv'] === 'P-521' ? ['ES512'] : [];
    case 'OKP':
      return jwk['crv'] === 'Ed25519' ? ['EdDSA', 'Ed25519'] : [];
    default:
      return [];
  }
}

/** Only the public members, so nothing else in the JWK (ext, key_ops…) influences the import. */
function publicMembers(jwk: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = { kty: jwk['kty'] };
  for (const m of ['n', 'e', 'crv', 'x', 'y'] as const) if (Object.hasOwn(jwk, m)) out[m] = jwk[m];
  return out;
}

export async function parseKeySet(bytes: Uint8Array, allowedAlgorithms: readonly string[]): Promise<KeySetResult> {
  const text = decodeUtf8Strict(bytes);
  const doc = text === undefined ? undefined : parseStrictJsonObject(text);
  if (doc === undefined) return { ok: false, problem: 'not_json' };
  const list = doc['keys'];
  if (!Array.isArray(list)) return { ok: false, problem: 'no_keys_array' };
  if (list.length > MAX_KEYS) return { ok: false, problem: 'too_many_keys' };
  for (const jwk of list) {
    if (typeof jwk === 'object' && jwk !== null && PRIVATE_MEMBERS.some((m) => Object.hasOwn(jwk, m))) {
      return { ok: false, problem: 'private_key' };
    }
  }
  const keys: VerificationKey[] = [];
  const seenKidAlg = new Set<string>();
  let ignored = 0;
  for (const raw of list as unknown[]) {
    const key = await importOne(raw, allowedAlgorithms, seenKidAlg);
    if (key === undefined) ignored++;
    else keys.push(key);
  }
  return { ok: true, keys, ignored };
}

async function importOne(
  raw: unknown,
  allowedAlgorithms: readonly string[],
  seenKidAlg: Set<string>,
): Promise<VerificationKey | undefined> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  const jwk = raw as Record<string, unknown>;
  if (Object.hasOwn(jwk, 'use') && jwk['use'] !== 'sig') return undefined;
  if (Object.hasOwn(jwk, 'key_ops')) {
    const ops = jwk['key_ops'];
    if (!Array.isArray(ops) || !ops.includes('verify')) return undefined;
  }
  let kid: string | undefined;
  if (Object.hasOwn(jwk, 'kid')) {
    if (typeof jwk['kid'] !== 'string' || !KID_PATTERN.test(jwk['kid'])) return undefined;
    kid = jwk['kid'];
  }
  let algs = algorithmsFor(jwk).filter((a) => allowedAlgorithms.includes(a));
  if (Object.hasOwn(jwk, 'alg')) algs = algs.filter((a) => a === jwk['alg']);
  const byAlg = new Map<string, JwsKey>();
  for (const alg of algs) {
    const slot = `${kid ?? ''}\u0000${alg}`;
    if (seenKidAlg.has(slot)) continue; // ambiguous: first key wins, later duplicates are skipped
    try {
      const imported = await importJWK(publicMembers(jwk), alg);
      // Checked for this algorithm once, here, as jose checks a key on every verification.
      const key = imported instanceof Uint8Array ? undefined : jwsKey(alg, imported);
      if (key === undefined) continue;
      byAlg.set(alg, key);
      seenKidAlg.add(slot);
    } catch {
      // malformed key material for this algorithm: skip it
    }
  }
  return byAlg.size === 0 ? undefined : { kid, byAlg };
}
