/**
 * Turning a received bundle into what the sidecar enforces — or a NACK reason. Pure: no I/O, no
 * state; the subscriber applies the result atomically or keeps its last good bundle.
 *
 * Strict by design: a bundle this sidecar does not fully understand (a wrong hash, bytes that are
 * not UTF-8 JSON, duplicate keys, an unknown top-level field, a policy the compiler refuses, an
 * issuer the token layer refuses, a malformed client) is rejected as a whole. The controller only
 * puts accepted resources in bundles, so a rejection means version skew or corruption, and the
 * NACK makes it visible in status instead of half-applying it.
 *
 * Policy selection: the sidecar enforces the one policy whose `fhirBasePath` equals the path it
 * guards (trailing slashes ignored). No such policy is a valid state — the policy was deleted or
 * not yet created — and means deny everything (`policy_unavailable`), never allow-all. Two
 * matching policies are ambiguous and rejected.
 *
 * SmartClient resources and policy `clients` ceilings, merged:
 *  - a client only in the bundle gets the bundle's `scopeCeiling`;
 *  - a client only in the policy keeps the policy's ceiling;
 *  - a client in both gets the scopes of either list that the other list fully covers (same
 *    level, type within, permissions within, restrictions no looser) — never wider than either
 *    list; a partial overlap that neither side covers is dropped, i.e. denied;
 *  - `requireCertificateBinding: true` adds the client to every issuer's
 *    `certificateBoundClients`, so its tokens must be RFC 8705-bound;
 *  - `quarantined: true` adds the client id to the revoked clients: every token of it is refused
 *    (`token_revoked`) until the quarantine is lifted.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../controller/desired-state.ts';
import type { NackReason } from '../controller/distribution/wire.ts';
import { compilePolicy } from '../policy/compile.ts';
import type { CompiledPolicy } from '../policy/compile.ts';
import { covers } from '../policy/grants.ts';
import { PolicyEngine } from '../policy/engine.ts';
import { parseScope } from '../smart/scopes.ts';
import type { ResourceScope } from '../smart/scopes.ts';
import type { IssuerConfig, Revocations, TokenConfig } from '../token/config.ts';
import { resolveTokenConfig } from '../token/config.ts';
import { decodeUtf8Strict, parseStrictJsonObject } from '../token/json-strict.ts';

export const MAX_BUNDLE_BYTES = 16 * 1024 * 1024;

/** A bundle as it arrives (stream or snapshot). */
export interface RawBundle {
  readonly version: string;
  readonly hash: string;
  readonly content: Uint8Array;
}

/** Everything the sidecar swaps in when it applies a bundle. */
export interface PreparedBundle {
  readonly version: string;
  readonly hash: string;
  /** The policy for this sidecar's base path, undefined when the bundle has none (→ deny all). */
  readonly engine: PolicyEngine | undefined;
  /** Token-layer configuration; undefined when the bundle names no issuer (every token is refused). */
  readonly tokenConfig: TokenConfig | undefined;
  /** Canonical form of everything in tokenConfig but revocations: equal key ⇒ keep the Authenticator. */
  readonly issuersKey: string;
  readonly revocations: Required<Revocations>;
}

export type PrepareResult =
  | { readonly ok: true; readonly bundle: PreparedBundle }
  | { readonly ok: false; readonly reason: NackReason; readonly detail: string };

interface BundleClient {
  readonly clientId: string;
  readonly scopeCeiling: readonly string[];
  readonly requireCertificateBinding: boolean;
  readonly certificateThumbprints: readonly string[];
  readonly quarantined: boolean;
}

const fail = (reason: NackReason, detail: string): PrepareResult => ({ ok: false, reason, detail: detail.slice(0, 500) });

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isString = (v: unknown, max = 256): v is string => typeof v === 'string' && v.length > 0 && v.length <= max;
const isStringArray = (v: unknown, maxItems: number, max = 256): v is string[] =>
  Array.isArray(v) && v.length <= maxItems && v.every((x) => isString(x, max));
const onlyKeys = (o: Record<string, unknown>, keys: readonly string[]): string | undefined =>
  Object.keys(o).find((k) => !keys.includes(k));

const normalizeBase = (p: string): string => p.replace(/\/+$/, '');

export function prepareBundle(raw: RawBundle, fhirBasePath: string | undefined): PrepareResult {
  if (!/^[0-9]{1,20}$/.test(raw.version)) return fail('content_invalid', 'version is not a decimal integer');
  if (!/^[0-9a-f]{64}$/.test(raw.hash)) return fail('content_invalid', 'hash is not lower-case hex SHA-256');
  if (raw.content.length > MAX_BUNDLE_BYTES) return fail('content_invalid', 'content too large');
  if (createHash('sha256').update(raw.content).digest('hex') !== raw.hash) return fail('hash_mismatch', 'sha256(content) differs from hash');

  const text = decodeUtf8Strict(raw.content);
  const doc = text === undefined ? undefined : parseStrictJsonObject(text);
  if (doc === undefined) return fail('content_invalid', 'content is not a UTF-8 JSON object without duplicate keys');
  const extra = onlyKeys(doc, ['policies', 'issuers', 'clients', 'revocations']);
  if (extra !== undefined) return fail('schema_invalid', `unknown field "${extra.slice(0, 64)}"`);
  const { policies, issuers, clients, revocations } = doc;
  if (!Array.isArray(policies) || policies.length > 1024) return fail('schema_invalid', 'policies must be an array (≤ 1024)');
  if (!Array.isArray(issuers) || issuers.length > 64) return fail('schema_invalid', 'issuers must be an array (≤ 64)');
  if (!Array.isArray(clients) || clients.length > 10_000) return fail('schema_invalid', 'clients must be an array (≤ 10000)');

  // Policies: every one must compile (what the controller accepted, this sidecar must understand).
  let mine: CompiledPolicy | undefined;
  for (const [i, p] of policies.entries()) {
    const r = compilePolicy(p);
    if (!r.ok) {
      const e = r.errors[0];
      return fail('policy_invalid', `policies/${i}${e?.path ?? ''}: ${e?.message ?? 'invalid'}`);
    }
    const matches = fhirBasePath === undefined ? policies.length === 1 : r.policy.basePath === normalizeBase(fhirBasePath);
    if (!matches) continue;
    if (mine !== undefined) {
      return fail('policy_ambiguous', `policies "${mine.name}" and "${r.policy.name}" both guard this base path`);
    }
    mine = r.policy;
  }
  if (fhirBasePath === undefined && policies.length > 1) {
    return fail('policy_ambiguous', 'several policies in the bundle and no fhirBasePath configured to choose one');
  }

  // Clients.
  const parsedClients: BundleClient[] = [];
  const seen = new Set<string>();
  for (const [i, c] of clients.entries()) {
    const checked = checkClient(c);
    if (typeof checked === 'string') return fail('client_invalid', `clients/${i}: ${checked}`);
    if (seen.has(checked.clientId)) return fail('client_invalid', `clients/${i}: duplicate clientId`);
    seen.add(checked.clientId);
    parsedClients.push(checked);
  }
  const bundleCeilings = new Map<string, ResourceScope[]>();
  for (const [i, c] of parsedClients.entries()) {
    const scopes: ResourceScope[] = [];
    for (const [j, raw] of c.scopeCeiling.entries()) {
      const s = parseScope(raw);
      if (s.kind !== 'resource') return fail('client_invalid', `clients/${i}/scopeCeiling/${j}: not a SMART resource scope`);
      scopes.push(s);
    }
    bundleCeilings.set(c.clientId, scopes);
  }

  // Revocations (+ quarantined clients).
  const rev = checkRevocations(revocations);
  if (typeof rev === 'string') return fail('schema_invalid', `revocations: ${rev}`);
  const quarantined = parsedClients.filter((c) => c.quarantined).map((c) => c.clientId);
  const mergedRevocations: Required<Revocations> = {
    jtis: rev.jtis,
    subjects: rev.subjects,
    clients: [...new Set([...rev.clients, ...quarantined])].sort(),
  };

  // Issuers, through the token layer's own validation.
  const bound = parsedClients.filter((c) => c.requireCertificateBinding).map((c) => c.clientId);
  let tokenConfig: TokenConfig | undefined;
  if (issuers.length > 0) {
    const merged = issuers.map((iss: unknown) =>
      isObject(iss) && bound.length > 0
        ? {
            ...iss,
            certificateBoundClients: [
              ...new Set([...(Array.isArray(iss['certificateBoundClients']) ? (iss['certificateBoundClients'] as string[]) : []), ...bound]),
            ],
          }
        : iss,
    ) as IssuerConfig[];
    tokenConfig = { issuers: merged, revocations: mergedRevocations };
    try {
      resolveTokenConfig(tokenConfig);
    } catch (err) {
      return fail('issuer_invalid', (err as Error).message);
    }
  }

  const engine = mine === undefined ? undefined : new PolicyEngine(withClientCeilings(mine, bundleCeilings));
  return {
    ok: true,
    bundle: {
      version: raw.version,
      hash: raw.hash,
      engine,
      tokenConfig,
      issuersKey: tokenConfig === undefined ? '' : canonicalJson(tokenConfig.issuers),
      revocations: mergedRevocations,
    },
  };
}

/** The policy with bundle client ceilings merged in (rules in the module comment). */
export function withClientCeilings(policy: CompiledPolicy, bundle: ReadonlyMap<string, readonly ResourceScope[]>): CompiledPolicy {
  if (bundle.size === 0) return policy;
  const merged = new Map(policy.clientCeilings);
  for (const [clientId, ceiling] of bundle) {
    const own = policy.clientCeilings.get(clientId);
    merged.set(clientId, own === undefined ? ceiling : intersectCeilings(own, ceiling));
  }
  return { ...policy, clientCeilings: merged };
}

/** Scopes of either list fully covered by some scope of the other: ⊆ both lists' reach. */
export function intersectCeilings(a: readonly ResourceScope[], b: readonly ResourceScope[]): ResourceScope[] {
  const out: ResourceScope[] = [];
  for (const s of a) if (b.some((c) => covers(c, s))) out.push(s);
  for (const s of b) if (a.some((c) => covers(c, s)) && !out.includes(s)) out.push(s);
  return out;
}

function checkClient(c: unknown): BundleClient | string {
  if (!isObject(c)) return 'must be an object';
  const extra = onlyKeys(c, ['clientId', 'scopeCeiling', 'requireCertificateBinding', 'certificateThumbprints', 'quarantined']);
  if (extra !== undefined) return `unknown field "${extra.slice(0, 64)}"`;
  if (!isString(c['clientId']) || !/^[\x21-\x7e]+$/.test(c['clientId'])) return 'clientId must be a printable string';
  if (!isStringArray(c['scopeCeiling'], 128, 1024)) return 'scopeCeiling must be an array of scopes';
  const thumbs = c['certificateThumbprints'] ?? [];
  if (!isStringArray(thumbs, 16, 128)) return 'certificateThumbprints must be an array of strings';
  const rcb = c['requireCertificateBinding'] ?? false;
  const q = c['quarantined'] ?? false;
  if (typeof rcb !== 'boolean' || typeof q !== 'boolean') return 'requireCertificateBinding and quarantined must be booleans';
  return { clientId: c['clientId'], scopeCeiling: c['scopeCeiling'], requireCertificateBinding: rcb, certificateThumbprints: thumbs, quarantined: q };
}

function checkRevocations(r: unknown): Required<Revocations> | string {
  if (r === undefined) return { jtis: [], subjects: [], clients: [] };
  if (!isObject(r)) return 'must be an object';
  const extra = onlyKeys(r, ['jtis', 'subjects', 'clients']);
  if (extra !== undefined) return `unknown field "${extra.slice(0, 64)}"`;
  const jtis = r['jtis'] ?? [];
  const clients = r['clients'] ?? [];
  const subjects = r['subjects'] ?? [];
  if (!isStringArray(jtis, 1_000_000)) return 'jtis must be an array of strings';
  if (!isStringArray(clients, 100_000)) return 'clients must be an array of strings';
  if (!Array.isArray(subjects) || subjects.length > 1_000_000) return 'subjects must be an array';
  for (const s of subjects as unknown[]) {
    if (!isObject(s) || onlyKeys(s, ['issuer', 'subject']) !== undefined || !isString(s['issuer'], 2048) || !isString(s['subject'])) {
      return 'subjects must be {issuer, subject} objects';
    }
  }
  return { jtis, clients, subjects: subjects as Array<{ issuer: string; subject: string }> };
}
