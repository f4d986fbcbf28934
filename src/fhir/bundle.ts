/**
 * Batch and transaction Bundles (`POST [base]` with a Bundle body): every entry is classified on
 * its own, exactly like a stand-alone request, so the policy sees — and can deny — an entry that
 * reaches another patient. An entry is never dropped: an entry that cannot be classified is
 * reported as such, and classify() denies the whole Bundle because of it.
 */
import type { ReasonCode } from '../core/reasons.ts';
import { classifyInteraction, normalizeBasePath } from './interaction.ts';
import { parseQueryPairs } from './query.ts';
import { relativeToBase } from './reference.ts';
import type { BundleLimits, ClassifyOptions, FhirRequest } from './request.ts';
import { parseStrictJson } from './strict-json.ts';

export const DEFAULT_BUNDLE_LIMITS: BundleLimits = Object.freeze({
  maxBytes: 1024 * 1024,
  maxDepth: 32,
  maxEntries: 100,
});

export type BundleEntryResult =
  | { readonly index: number; readonly ok: true; readonly fullUrl: string | undefined; readonly request: FhirRequest }
  | { readonly index: number; readonly ok: false; readonly reason: ReasonCode };

export type BundleResult =
  | { readonly ok: true; readonly type: 'batch' | 'transaction'; readonly entries: readonly BundleEntryResult[] }
  | { readonly ok: false; readonly reason: ReasonCode };

/** R4 Bundle.entry.request.method (http-verb) values. */
const VERBS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH']);
const URN_UUID = /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const URN_OID = /^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$/;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function entryFail(index: number, reason: ReasonCode = 'fhir_bundle_invalid'): BundleEntryResult {
  return { index, ok: false, reason };
}

function checkFullUrl(fullUrl: unknown, opts: ClassifyOptions): string | undefined | false {
  if (fullUrl === undefined) return undefined;
  if (typeof fullUrl !== 'string') return false;
  if (URN_UUID.test(fullUrl) || URN_OID.test(fullUrl)) return fullUrl;
  const rel = relativeToBase(fullUrl, opts.baseUrl);
  // A fullUrl must be absolute; one on another server (or with no base URL configured) is refused.
  if (rel === undefined || rel === fullUrl) return false;
  return fullUrl;
}

function classifyEntry(index: number, entry: unknown, opts: ClassifyOptions): BundleEntryResult {
  if (!isObject(entry)) return entryFail(index);
  const fullUrl = checkFullUrl(entry['fullUrl'], opts);
  if (fullUrl === false) return entryFail(index);
  const request = entry['request'];
  if (!isObject(request)) return entryFail(index);
  const method = request['method'];
  const url = request['url'];
  if (typeof method !== 'string' || !VERBS.has(method) || typeof url !== 'string' || url.length > 4096) return entryFail(index);
  const ifNoneExist = request['ifNoneExist'];
  if (ifNoneExist !== undefined && (typeof ifNoneExist !== 'string' || method !== 'POST')) return entryFail(index);

  const rel = relativeToBase(url, opts.baseUrl);
  if (rel === undefined || rel.startsWith('/') || rel.includes('#')) return entryFail(index);
  const q = rel.indexOf('?');
  const relPath = q < 0 ? rel : rel.slice(0, q);
  const rawQuery = q < 0 ? '' : rel.slice(q + 1);
  const pairs = parseQueryPairs(rawQuery);
  if (!pairs.ok) return entryFail(index, 'fhir_search_invalid');
  const base = normalizeBasePath(opts.basePath);
  const result = classifyInteraction(
    { method, path: relPath === '' ? base : `${base}/${relPath}`, pairs: pairs.pairs, fromForm: false, ifNoneExist },
    opts,
  );
  if (!result.ok) return entryFail(index, result.reason);
  // A Bundle inside a Bundle entry is not a FHIR interaction; refuse rather than recurse.
  if ('bundle' in result) return entryFail(index);
  return { index, ok: true, fullUrl, request: result.request };
}

/**
 * Parses a batch/transaction Bundle body and classifies every entry. Fails as a whole only when
 * the Bundle itself is unusable (not JSON, duplicate keys, over a cap, wrong resourceType/type).
 */
export function classifyBundle(body: Uint8Array, opts: ClassifyOptions): BundleResult {
  const limits: BundleLimits = { ...DEFAULT_BUNDLE_LIMITS, ...opts.bundleLimits };
  const parsed = parseStrictJson(body, limits);
  if (!parsed.ok) return { ok: false, reason: parsed.error === 'too_large' ? 'request_body_too_large' : 'fhir_bundle_invalid' };
  const bundle = parsed.value;
  if (!isObject(bundle) || bundle['resourceType'] !== 'Bundle') return { ok: false, reason: 'fhir_bundle_invalid' };
  const type = bundle['type'];
  if (type !== 'batch' && type !== 'transaction') return { ok: false, reason: 'fhir_bundle_invalid' };
  const entries = bundle['entry'] ?? [];
  if (!Array.isArray(entries)) return { ok: false, reason: 'fhir_bundle_invalid' };
  if (entries.length > limits.maxEntries) return { ok: false, reason: 'request_body_too_large' };
  const results = entries.map((e: unknown, i) => classifyEntry(i, e, opts));
  return { ok: true, type, entries: results };
}
