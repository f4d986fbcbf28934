/**
 * The classify phase: an HTTP request (as ingest produced it) + the FHIR base path → a
 * FhirRequest, or a denial reason. Anything that is not a recognisable R4 REST interaction is
 * denied here, never passed on for the policy to guess about.
 */
import type { ReasonCode } from '../core/reasons.ts';
import { classifyBundle } from './bundle.ts';
import { classifyInteraction, normalizeBasePath } from './interaction.ts';
import { parseFormBody, parseQueryPairs } from './query.ts';
import type { QueryPair } from './query.ts';
import type { BundleEntry, ClassifyOptions, ClassifyResult } from './request.ts';
import { EMPTY_SEARCH } from './search.ts';

/** The parts of an HTTP request classify reads; `HttpRequest` from src/core fits it. */
export interface ClassifyInput {
  readonly method: string;
  readonly path: string;
  readonly rawQuery: string;
  /** Content-Type; when omitted it is read from `headers`. */
  readonly contentType?: string;
  readonly body?: Uint8Array | undefined;
  /** True when only part of the body was forwarded (Envoy's with_request_body cap). */
  readonly bodyPartial?: boolean;
  /** Lower-cased header names → values (If-None-Exist, Content-Type). */
  readonly headers?: ReadonlyMap<string, string>;
}

const deny = (reason: ReasonCode): ClassifyResult => ({ ok: false, reason });
const CHARSET = /^charset\s*=\s*"?([^"]*)"?$/i;
const SEARCH_POST = /^(\/[A-Za-z]+)?\/_search$/;

/** Media type without parameters, lower-cased; undefined when absent. */
function mediaType(contentType: string | undefined): { type: string; charset: string | undefined } | undefined {
  if (contentType === undefined) return undefined;
  const [type = '', ...params] = contentType.split(';').map((p) => p.trim());
  let charset: string | undefined;
  for (const p of params) {
    const m = CHARSET.exec(p);
    if (m !== null) charset = (m[1] ?? '').toLowerCase();
  }
  return { type: type.toLowerCase(), charset };
}

const isSearchPost = (path: string, basePath: string): boolean => {
  const rest = path.slice(normalizeBasePath(basePath).length);
  return SEARCH_POST.test(rest);
};

export function classify(req: ClassifyInput, opts: ClassifyOptions): ClassifyResult {
  try {
    return classifyOrThrow(req, opts);
  } catch {
    // Classification is pure parsing; an exception means an input we did not foresee. Fail closed.
    return deny('request_malformed');
  }
}

function classifyOrThrow(req: ClassifyInput, opts: ClassifyOptions): ClassifyResult {
  const contentType = mediaType(req.contentType ?? req.headers?.get('content-type'));
  const query = parseQueryPairs(req.rawQuery);
  if (!query.ok) return deny('fhir_search_invalid');
  let pairs: readonly QueryPair[] = query.pairs;
  let fromForm = false;

  const body = req.body;
  const hasBody = body !== undefined && body.length > 0;
  if (req.method === 'POST' && isSearchPost(req.path, opts.basePath) && hasBody) {
    // POST …/_search: parameters come from the query and the form body (both are evaluated).
    if (contentType?.type !== 'application/x-www-form-urlencoded') return deny('fhir_content_type_unsupported');
    if (contentType.charset !== undefined && contentType.charset !== 'utf-8') return deny('fhir_content_type_unsupported');
    if (req.bodyPartial === true) return deny('request_body_too_large');
    const form = parseFormBody(body);
    if (!form.ok) return deny('fhir_search_invalid');
    pairs = [...pairs, ...form.pairs];
    fromForm = true;
  }

  const result = classifyInteraction(
    { method: req.method, path: req.path, pairs, fromForm, ifNoneExist: req.headers?.get('if-none-exist') },
    opts,
  );
  if (!result.ok) return result;
  if (!('bundle' in result)) return result;

  // POST [base]: a batch or transaction Bundle. Without the complete JSON body we cannot know
  // what it does, so it is denied.
  if (!hasBody) return deny('fhir_bundle_invalid');
  if (req.bodyPartial === true) return deny('request_body_too_large');
  if (contentType !== undefined && contentType.type !== 'application/fhir+json' && contentType.type !== 'application/json') {
    return deny('fhir_content_type_unsupported');
  }
  const bundle = classifyBundle(body, opts);
  if (!bundle.ok) return bundle;
  const entries: BundleEntry[] = [];
  for (const e of bundle.entries) {
    if (!e.ok) return deny(e.reason === 'fhir_operation_not_allowed' ? e.reason : 'fhir_bundle_invalid');
    entries.push({ index: e.index, fullUrl: e.fullUrl, request: e.request });
  }
  return {
    ok: true,
    request: {
      interaction: bundle.type,
      method: 'POST',
      resourceType: undefined,
      id: undefined,
      versionId: undefined,
      compartment: undefined,
      operation: undefined,
      conditional: false,
      search: EMPTY_SEARCH,
      query: [],
      format: result.format,
      pretty: result.pretty,
      entries,
    },
  };
}
