/**
 * Method + path + query → FHIR interaction, for everything except the body of a batch or
 * transaction (bundle.ts handles that and calls back into this file for each entry).
 *
 * Paths are checked segment by segment against the R4 REST URL patterns. The path arrives as Envoy
 * normalized it; we still refuse anything that a second normalization could change (percent
 * escapes, empty or dot segments), so the path the policy judged is the path the server serves.
 */
import type { ReasonCode } from '../core/reasons.ts';
import { EMPTY } from './lists.ts';
import { parseQueryPairs } from './query.ts';
import type { QueryPair } from './query.ts';
import { COMPARTMENT_TYPES, isFhirId, isResourceType } from './resource-types.ts';
import type { ClassifyOptions, CompartmentRef, FhirRequest, Interaction, OperationLevel } from './request.ts';
import { EMPTY_SEARCH, tryParseSearch } from './search.ts';
import type { ParsedSearch } from './search.ts';

export type InteractionInput = {
  readonly method: string;
  readonly path: string;
  /** Decoded query pairs (plus form-body pairs for `POST …/_search`). */
  readonly pairs: readonly QueryPair[];
  /** True when the pairs came partly from a form body (only valid for `_search`). */
  readonly fromForm: boolean;
  /** If-None-Exist criteria (a query string without '?'), for conditional create. */
  readonly ifNoneExist: string | undefined;
};

/** A system-level POST: the caller must look at the Bundle body to finish classification. */
export type InteractionResult =
  | { readonly ok: true; readonly request: FhirRequest }
  | { readonly ok: true; readonly bundle: true; readonly format: string | undefined; readonly pretty: boolean | undefined }
  | { readonly ok: false; readonly reason: ReasonCode };

const METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']);
const SEGMENT = /^[A-Za-z0-9\-._$*]{1,64}$/;
const OPERATION = /^\$[A-Za-z][A-Za-z0-9_-]{0,63}$/;
const FORMAT = /^[A-Za-z0-9+./\-;= ]{1,100}$/;
const LETTERS = /^[A-Za-z]+$/;

/** Query parameters allowed on interactions that are not searches (besides `_format`/`_pretty`). */
const ALLOWED_QUERY: Partial<Record<Interaction, ReadonlySet<string>>> = {
  read: new Set(['_summary', '_elements']),
  vread: new Set(['_summary', '_elements']),
  update: new Set(),
  patch: new Set(),
  delete: new Set(),
  create: new Set(),
  'history-instance': new Set(['_count', '_since', '_at', '_list']),
  'history-type': new Set(['_count', '_since', '_at', '_list']),
  'history-system': new Set(['_count', '_since', '_at', '_list']),
  capabilities: new Set(['mode', '_summary', '_elements']),
};

const NO_QUERY: ReadonlySet<string> = new Set();

const fail = (reason: ReasonCode): InteractionResult => ({ ok: false, reason });

/** Normalizes a configured base path: '' for root, otherwise '/x/y' without trailing slash. */
export function normalizeBasePath(basePath: string): string {
  return basePath.endsWith('/') ? basePath.replace(/\/+$/, '') : basePath;
}

/** Splits the part of `path` after the base into validated segments (at most 4), or returns a reason. */
export function pathSegments(path: string, basePath: string): string[] | ReasonCode {
  const base = normalizeBasePath(basePath);
  if (path === base || (base === '' && path === '/')) return [];
  if (!path.startsWith(base) || path.charCodeAt(base.length) !== 0x2f) return 'request_path_invalid';
  // Count the segments first: more than four is refused before anything is sliced, and the list
  // is made at its final size.
  let count = 1;
  for (let i = path.indexOf('/', base.length + 1); i >= 0; i = path.indexOf('/', i + 1)) {
    if (++count > 4) return 'request_path_invalid';
  }
  const segs = new Array<string>(count);
  let start = base.length + 1;
  for (let k = 0; k < count; k++) {
    let end = path.indexOf('/', start);
    if (end < 0) end = path.length;
    const s = path.slice(start, end);
    if (s === '' || s === '.' || s === '..' || !SEGMENT.test(s)) return 'request_path_invalid';
    segs[k] = s;
    start = end + 1;
  }
  return segs;
}

/** Whether any name may be `_format`/`_pretty` (or a modified form of one, which is refused). */
function hasControls(pairs: readonly QueryPair[]): boolean {
  for (const pair of pairs) if (pair[0].startsWith('_format') || pair[0].startsWith('_pretty')) return true;
  return false;
}

/** Takes `_format`/`_pretty` out of the pairs (each at most once). */
function stripControls(
  pairs: readonly QueryPair[],
): { rest: readonly QueryPair[]; format: string | undefined; pretty: boolean | undefined } | undefined {
  let format: string | undefined;
  let pretty: boolean | undefined;
  const rest: QueryPair[] = [];
  for (const pair of pairs) {
    const [name, value] = pair;
    if (name === '_format') {
      if (format !== undefined || !FORMAT.test(value)) return undefined;
      format = value;
    } else if (name === '_pretty') {
      if (pretty !== undefined || (value !== 'true' && value !== 'false')) return undefined;
      pretty = value === 'true';
    } else if (name.startsWith('_format:') || name.startsWith('_pretty:')) {
      return undefined;
    } else {
      rest.push(pair);
    }
  }
  return { rest, format, pretty };
}

interface Shape {
  interaction: Interaction;
  resourceType?: string;
  id?: string;
  versionId?: string;
  compartment?: CompartmentRef;
  operation?: string;
  conditional?: boolean;
}

/** Segment that stands where a resource type must be: unknown names get their own reason. */
function typeReason(seg: string): ReasonCode {
  return LETTERS.test(seg) ? 'fhir_resource_type_unknown' : 'request_path_invalid';
}

function operationLevelAllowed(
  opts: ClassifyOptions,
  name: string,
  level: OperationLevel,
  resourceType: string | undefined,
  method: string,
): boolean {
  if (opts.operations === undefined) return method === 'GET' || method === 'POST' || method === 'HEAD';
  if (!Object.hasOwn(opts.operations, name)) return false;
  const spec = opts.operations[name];
  if (spec === undefined || !spec.levels.includes(level)) return false;
  if (resourceType !== undefined && spec.resourceTypes !== undefined && !spec.resourceTypes.includes(resourceType)) return false;
  const methods: readonly string[] = spec.methods ?? ['GET', 'POST'];
  return methods.includes(method === 'HEAD' ? 'GET' : method);
}

/** `$name` at `level`: the operation's shape, or why it is refused. */
function operationShape(opts: ClassifyOptions, method: string, seg: string, level: OperationLevel, resourceType?: string, id?: string): Shape | ReasonCode {
  if (!OPERATION.test(seg)) return 'request_path_invalid';
  const name = seg.slice(1);
  if (method !== 'GET' && method !== 'POST' && method !== 'HEAD') return 'fhir_interaction_unknown';
  if (!operationLevelAllowed(opts, name, level, resourceType, method)) return 'fhir_operation_not_allowed';
  const shape: Shape = { interaction: `operation-${level}`, operation: name };
  if (resourceType !== undefined) shape.resourceType = resourceType;
  if (id !== undefined) shape.id = id;
  return shape;
}

/**
 * Maps method + segments to the interaction shape, or a reason. `hasCriteria` (any query parameter
 * besides `_format`/`_pretty`) turns PUT/PATCH/DELETE on a type into the conditional forms.
 */
function shapeOf(method: string, segs: readonly string[], hasCriteria: boolean, opts: ClassifyOptions): Shape | ReasonCode {
  const read = method === 'GET' || method === 'HEAD';
  const a = segs[0];
  const b = segs[1];
  const c = segs[2];
  const d = segs[3];

  if (a === undefined) {
    if (read) return { interaction: 'search-system' };
    return 'fhir_interaction_unknown'; // POST to the base is a bundle; handled by the caller
  }
  if (b === undefined) {
    if (a === 'metadata') return read ? { interaction: 'capabilities' } : 'fhir_interaction_unknown';
    if (a === '_history') return read ? { interaction: 'history-system' } : 'fhir_interaction_unknown';
    if (a === '_search') return method === 'POST' ? { interaction: 'search-system' } : 'fhir_interaction_unknown';
    if (a.startsWith('$')) return operationShape(opts, method, a, 'system');
    if (!isResourceType(a)) return typeReason(a);
    switch (method) {
      case 'GET':
      case 'HEAD':
        return { interaction: 'search-type', resourceType: a };
      case 'POST':
        return { interaction: 'create', resourceType: a };
      case 'PUT':
        return hasCriteria ? { interaction: 'update', resourceType: a, conditional: true } : 'fhir_interaction_unknown';
      case 'PATCH':
        return hasCriteria ? { interaction: 'patch', resourceType: a, conditional: true } : 'fhir_interaction_unknown';
      case 'DELETE':
        return hasCriteria ? { interaction: 'delete', resourceType: a, conditional: true } : 'fhir_interaction_unknown';
      default:
        return 'fhir_interaction_unknown';
    }
  }
  if (!isResourceType(a)) return typeReason(a);
  if (c === undefined) {
    if (b === '_search') return method === 'POST' ? { interaction: 'search-type', resourceType: a } : 'fhir_interaction_unknown';
    if (b === '_history') return read ? { interaction: 'history-type', resourceType: a } : 'fhir_interaction_unknown';
    if (b.startsWith('$')) return operationShape(opts, method, b, 'type', a);
    if (!isFhirId(b)) return 'request_path_invalid';
    switch (method) {
      case 'GET':
      case 'HEAD':
        return { interaction: 'read', resourceType: a, id: b };
      case 'PUT':
        return { interaction: 'update', resourceType: a, id: b };
      case 'PATCH':
        return { interaction: 'patch', resourceType: a, id: b };
      case 'DELETE':
        return { interaction: 'delete', resourceType: a, id: b };
      default:
        return 'fhir_interaction_unknown';
    }
  }
  if (!isFhirId(b)) return 'request_path_invalid';
  if (d === undefined) {
    if (c === '_history') return read ? { interaction: 'history-instance', resourceType: a, id: b } : 'fhir_interaction_unknown';
    if (c.startsWith('$')) return operationShape(opts, method, c, 'instance', a, b);
    if (c !== '*' && !isResourceType(c)) return typeReason(c);
    if (!COMPARTMENT_TYPES.has(a)) return 'fhir_interaction_unknown';
    if (!read) return 'fhir_interaction_unknown';
    return { interaction: 'search-compartment', resourceType: a, id: b, compartment: { type: a, id: b, targetType: c } };
  }
  if (c === '_history') {
    if (!isFhirId(d)) return 'request_path_invalid';
    return read ? { interaction: 'vread', resourceType: a, id: b, versionId: d } : 'fhir_interaction_unknown';
  }
  return 'request_path_invalid';
}

const SEARCHES: ReadonlySet<Interaction> = new Set(['search-type', 'search-system', 'search-compartment']);

/**
 * Classifies one request whose query (and form body, if any) is already decoded. A POST to the
 * base itself comes back as `{ bundle: true }` for the caller to finish from the body.
 */
export function classifyInteraction(input: InteractionInput, opts: ClassifyOptions): InteractionResult {
  if (!METHODS.has(input.method)) return fail('fhir_interaction_unknown');
  const segs = pathSegments(input.path, opts.basePath);
  if (typeof segs === 'string') return fail(segs);
  let rest = input.pairs;
  let format: string | undefined;
  let pretty: boolean | undefined;
  if (hasControls(rest)) {
    const controls = stripControls(rest);
    if (controls === undefined) return fail('fhir_search_invalid');
    ({ rest, format, pretty } = controls);
  }
  if (segs.length === 0 && input.method === 'POST') {
    if (rest.length > 0) return fail('fhir_search_invalid');
    return { ok: true, bundle: true, format, pretty };
  }
  const hasCriteria = rest.length > 0;
  const shape = shapeOf(input.method, segs, hasCriteria, opts);
  if (typeof shape === 'string') return fail(shape);

  const isSearch = SEARCHES.has(shape.interaction);
  if (input.fromForm && !isSearch) return fail('fhir_content_type_unsupported');
  const isOperation = shape.interaction.startsWith('operation-');
  let search: ParsedSearch = EMPTY_SEARCH;
  let conditional = shape.conditional === true;

  if (isOperation) {
    // Operation parameters are not search parameters; the policy reads them from `query`.
  } else if (isSearch || conditional) {
    const target = shape.compartment !== undefined ? (shape.compartment.targetType === '*' ? undefined : shape.compartment.targetType) : shape.resourceType;
    const parsed = tryParseSearch(rest, target);
    if (parsed === undefined) return fail('fhir_search_invalid');
    search = parsed;
    // Conditional update/patch/delete with only result parameters would match every resource.
    if (conditional && search.params.length === 0) return fail('fhir_search_invalid');
  } else {
    const allowed = ALLOWED_QUERY[shape.interaction] ?? NO_QUERY;
    for (const pair of rest) if (!allowed.has(pair[0])) return fail('fhir_search_invalid');
    const parsed = tryParseSearch(rest, shape.resourceType);
    if (parsed === undefined) return fail('fhir_search_invalid');
    search = parsed;
  }

  if (shape.interaction === 'create' && input.ifNoneExist !== undefined) {
    const criteria = parseCriteria(input.ifNoneExist, shape.resourceType);
    if (criteria === undefined) return fail('fhir_search_invalid');
    search = criteria;
    conditional = true;
  }
  return {
    ok: true,
    request: {
      interaction: shape.interaction,
      method: input.method,
      resourceType: shape.resourceType,
      id: shape.id,
      versionId: shape.versionId,
      compartment: shape.compartment,
      operation: shape.operation,
      conditional,
      search,
      query: rest,
      format,
      pretty,
      entries: EMPTY,
    },
  };
}

/** Parses If-None-Exist criteria (`identifier=…`, optionally with a leading `?` or `Type?`). */
function parseCriteria(raw: string, resourceType: string | undefined): ParsedSearch | undefined {
  let q = raw;
  if (resourceType !== undefined && q.startsWith(resourceType + '?')) q = q.slice(resourceType.length + 1);
  else if (q.startsWith('?')) q = q.slice(1);
  const pairs = parseQueryPairs(q);
  if (!pairs.ok || pairs.pairs.length === 0) return undefined;
  if (pairs.pairs.some(([n]) => n.startsWith('_format') || n.startsWith('_pretty'))) return undefined;
  const parsed = tryParseSearch(pairs.pairs, resourceType);
  return parsed !== undefined && parsed.params.length > 0 ? parsed : undefined;
}
