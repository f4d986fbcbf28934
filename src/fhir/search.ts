/**
 * FHIR R4 search parameter grammar: turns decoded query pairs into structured parameters the
 * policy can reason about — name, modifier, chain, `_has` reverse chain, OR-values with prefixes —
 * plus the result parameters (`_count`, `_include`, `_sort`, …) parsed separately.
 *
 * Anything whose meaning the upstream server could read differently is rejected
 * (`fhir_search_invalid`): unknown modifiers, escapes FHIR does not define, repeated singleton
 * result parameters, malformed includes. Unknown parameter *names* are kept (marked with an
 * undefined `def`): servers ignore them, and the policy decides what an unknown name means.
 */
import type { ReasonCode } from '../core/reasons.ts';
import { parseQueryPairs } from './query.ts';
import type { QueryPair } from './query.ts';
import { isResourceType } from './resource-types.ts';
import type { SearchParamDef } from './search-param-def.ts';
import { searchParamDef } from './search-params.ts';

/** R4 search comparators (prefixes) for number, date and quantity parameters. */
export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
const PREFIXES: ReadonlySet<string> = new Set(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

/** R4 modifiers other than the `:[type]` modifier (`:iterate` only on `_include`/`_revinclude`). */
const MODIFIERS: ReadonlySet<string> = new Set([
  'missing', 'exact', 'contains', 'not', 'text', 'in', 'not-in', 'below', 'above', 'identifier', 'of-type',
]);

/** One OR-alternative of a parameter value. */
export interface SearchValue {
  /** The alternative as sent (percent-decoded, FHIR escapes `\,` `\$` `\|` `\\` still in place). */
  readonly raw: string;
  /** Comparator, for number/date/quantity parameters only. */
  readonly prefix: Prefix | undefined;
  /** The alternative without prefix and with FHIR escapes removed. */
  readonly value: string;
}

/** One link of a forward chain (`subject:Patient.name` → `{name:'name'}` after the first link). */
export interface ChainLink {
  readonly name: string;
  /** A modifier on this link; on links other than the last it is always a resource type. */
  readonly modifier: string | undefined;
}

/** `_has:Observation:patient:_has:AuditEvent:entity:user` → two links then the parameter `user`. */
export interface HasChain {
  readonly links: ReadonlyArray<{ readonly resourceType: string; readonly reference: string }>;
  readonly param: string;
  readonly modifier: string | undefined;
}

export interface SearchParam {
  /** Parameter code (`subject`, `_id`, `_has`, …). */
  readonly name: string;
  /** Modifier after `:` (`exact`, `missing`, or a resource type such as `Patient`). */
  readonly modifier: string | undefined;
  /** Forward chain after the first `.`; empty when not chained. */
  readonly chain: readonly ChainLink[];
  /** Reverse chain, only for `_has`. */
  readonly has: HasChain | undefined;
  /** OR-alternatives (split on unescaped commas), in order. */
  readonly values: readonly SearchValue[];
  /** Definition of `name` on the searched type, undefined when unknown there. */
  readonly def: SearchParamDef | undefined;
}

export interface Include {
  /** True for `_include=*` / `_revinclude=*`. */
  readonly wildcard: boolean;
  readonly sourceType: string | undefined;
  /** Reference parameter name, or '*' for `Type:*`. */
  readonly param: string | undefined;
  readonly targetType: string | undefined;
  readonly iterate: boolean;
}

export interface SortKey {
  readonly name: string;
  readonly descending: boolean;
}

export interface ResultParams {
  readonly count: number | undefined;
  readonly include: readonly Include[];
  readonly revinclude: readonly Include[];
  readonly elements: readonly string[] | undefined;
  readonly summary: 'true' | 'false' | 'text' | 'data' | 'count' | undefined;
  readonly sort: readonly SortKey[] | undefined;
  readonly total: 'none' | 'estimate' | 'accurate' | undefined;
  readonly contained: 'true' | 'false' | 'both' | undefined;
  readonly containedType: 'container' | 'contained' | undefined;
}

export interface ParsedSearch {
  /** Search parameters in request order; repeats are separate entries (AND). */
  readonly params: readonly SearchParam[];
  readonly result: ResultParams;
}

export type SearchResult = { readonly ok: true; readonly search: ParsedSearch } | { readonly ok: false; readonly reason: ReasonCode };

export const EMPTY_RESULT_PARAMS: ResultParams = Object.freeze({
  count: undefined,
  include: [],
  revinclude: [],
  elements: undefined,
  summary: undefined,
  sort: undefined,
  total: undefined,
  contained: undefined,
  containedType: undefined,
});

export const EMPTY_SEARCH: ParsedSearch = Object.freeze({ params: [], result: EMPTY_RESULT_PARAMS });

/** Names of the result parameters (they shape the response, not the match). */
export const RESULT_PARAM_NAMES: ReadonlySet<string> = new Set([
  '_count', '_include', '_revinclude', '_elements', '_summary', '_sort', '_total', '_contained', '_containedType',
]);

const CODE = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const ELEMENT = /^[A-Za-z][A-Za-z0-9_]{0,63}(\.[A-Za-z][A-Za-z0-9_]{0,63}){0,4}$/;
const MAX_VALUES = 256;

const invalid: SearchResult = Object.freeze({ ok: false, reason: 'fhir_search_invalid' });

class SearchSyntaxError extends Error {}
function fail(): never {
  throw new SearchSyntaxError('invalid search');
}

/**
 * Splits a value on unescaped commas. Only the four escapes FHIR defines are accepted; any other
 * backslash sequence (or a trailing backslash) is rejected because servers disagree on it.
 */
export function splitEscaped(value: string): string[] | undefined {
  if (!value.includes('\\')) {
    const fast = value.split(',');
    return fast.length > MAX_VALUES + 1 ? undefined : fast;
  }
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '\\') {
      const next = value[i + 1];
      if (next !== ',' && next !== '$' && next !== '|' && next !== '\\') return undefined;
      cur += ch + next;
      i += 1;
    } else if (ch === ',') {
      parts.push(cur);
      cur = '';
      if (parts.length > MAX_VALUES) return undefined;
    } else {
      cur += ch;
    }
  }
  parts.push(cur);
  return parts;
}

/** Removes FHIR search escapes (`\,` → `,` …) from one alternative that passed splitEscaped. */
export function unescapeValue(raw: string): string {
  return raw.replace(/\\([,$|\\])/g, '$1');
}

function toValue(raw: string, def: SearchParamDef | undefined, chained: boolean): SearchValue {
  let prefix: Prefix | undefined;
  let body = raw;
  const t = def?.type;
  if (!chained && (t === 'number' || t === 'date' || t === 'quantity')) {
    const p = raw.slice(0, 2);
    if (PREFIXES.has(p) && /^[0-9+\-.]/.test(raw.slice(2))) {
      prefix = p as Prefix;
      body = raw.slice(2);
    }
  }
  return { raw, prefix, value: unescapeValue(body) };
}

function splitModifier(segment: string): { name: string; modifier: string | undefined } {
  const parts = segment.split(':');
  if (parts.length > 2) fail();
  const name = parts[0] ?? '';
  if (!CODE.test(name)) fail();
  const modifier = parts[1];
  if (modifier !== undefined && !MODIFIERS.has(modifier) && !isResourceType(modifier)) fail();
  return { name, modifier };
}

function parseHas(fullName: string): HasChain {
  // _has:Type:reference:(_has:Type:reference:)*param[:modifier]
  const parts = fullName.split(':');
  const links: Array<{ resourceType: string; reference: string }> = [];
  let i = 0;
  while (parts[i] === '_has') {
    const resourceType = parts[i + 1];
    const reference = parts[i + 2];
    if (resourceType === undefined || reference === undefined) fail();
    if (!isResourceType(resourceType) || !CODE.test(reference)) fail();
    links.push({ resourceType, reference });
    i += 3;
    if (links.length > 8) fail();
  }
  const param = parts[i];
  const modifier = parts[i + 1];
  if (param === undefined || !CODE.test(param) || param.startsWith('_has') || parts.length > i + 2) fail();
  if (modifier !== undefined && !MODIFIERS.has(modifier) && !isResourceType(modifier)) fail();
  return { links, param, modifier };
}

function parseSearchParam(resourceType: string | undefined, fullName: string, value: string): SearchParam {
  const alternatives = splitEscaped(value);
  if (alternatives === undefined) fail();
  if (fullName.startsWith('_has:')) {
    const has = parseHas(fullName);
    return { name: '_has', modifier: undefined, chain: [], has, values: alternatives.map((a) => toValue(a, undefined, true)), def: undefined };
  }
  const segments = fullName.split('.');
  if (segments.length > 8) fail();
  const first = splitModifier(segments[0] ?? '');
  const chain: ChainLink[] = [];
  for (let i = 1; i < segments.length; i++) chain.push(splitModifier(segments[i] ?? ''));
  // Every link that is followed by another must be a plain reference hop: at most a type modifier.
  const hops = [first, ...chain].slice(0, -1);
  for (const hop of hops) if (hop.modifier !== undefined && !isResourceType(hop.modifier)) fail();
  if (first.name === '_has') fail();
  const def = searchParamDef(resourceType, first.name);
  if (def !== undefined && def.type !== 'reference' && (chain.length > 0 || (first.modifier !== undefined && isResourceType(first.modifier)))) {
    fail();
  }
  if (first.modifier === 'missing' && chain.length === 0 && value !== 'true' && value !== 'false') fail();
  return {
    name: first.name,
    modifier: first.modifier,
    chain,
    has: undefined,
    values: alternatives.map((a) => toValue(a, def, chain.length > 0)),
    def,
  };
}

function parseInclude(name: string, value: string): Include {
  const [base, modifier, ...rest] = name.split(':');
  if (rest.length > 0 || base === undefined) fail();
  if (modifier !== undefined && modifier !== 'iterate') fail();
  const iterate = modifier === 'iterate';
  if (value === '*') return { wildcard: true, sourceType: undefined, param: undefined, targetType: undefined, iterate };
  const parts = value.split(':');
  const [sourceType, param, targetType] = parts;
  if (parts.length < 2 || parts.length > 3 || sourceType === undefined || param === undefined) fail();
  if (!isResourceType(sourceType)) fail();
  if (param !== '*' && !CODE.test(param)) fail();
  if (targetType !== undefined && !isResourceType(targetType)) fail();
  return { wildcard: false, sourceType, param, targetType, iterate };
}

function oneOf<T extends string>(value: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) fail();
  return found;
}

/**
 * Parses decoded query pairs as a search on `resourceType` (undefined for a system-level search).
 * `_format` and `_pretty` must already have been removed (see classify); they are rejected here so
 * that a caller cannot forget to strip them.
 */
export function parseSearch(pairs: readonly QueryPair[], resourceType: string | undefined): SearchResult {
  try {
    return { ok: true, search: parseSearchOrThrow(pairs, resourceType) };
  } catch (e) {
    if (e instanceof SearchSyntaxError) return invalid;
    throw e;
  }
}

/** Convenience: percent-decode a raw query string, then parseSearch. */
export function parseSearchQuery(rawQuery: string, resourceType: string | undefined): SearchResult {
  const q = parseQueryPairs(rawQuery);
  if (!q.ok) return invalid;
  return parseSearch(q.pairs, resourceType);
}

function parseSearchOrThrow(pairs: readonly QueryPair[], resourceType: string | undefined): ParsedSearch {
  const params: SearchParam[] = [];
  const include: Include[] = [];
  const revinclude: Include[] = [];
  const seen = new Set<string>();
  const r: {
    count?: number;
    elements?: string[];
    summary?: ResultParams['summary'];
    sort?: SortKey[];
    total?: ResultParams['total'];
    contained?: ResultParams['contained'];
    containedType?: ResultParams['containedType'];
  } = {};
  for (const [name, value] of pairs) {
    const base = name.split(':')[0] ?? '';
    if (base === '_format' || base === '_pretty') fail();
    if (base === '_include' || base === '_revinclude') {
      (base === '_include' ? include : revinclude).push(parseInclude(name, value));
      continue;
    }
    if (!RESULT_PARAM_NAMES.has(base)) {
      params.push(parseSearchParam(resourceType, name, value));
      continue;
    }
    // The remaining result parameters take no modifier and may appear once: two `_count`s are
    // read as the first by some servers and the last by others.
    if (name !== base || seen.has(base)) fail();
    seen.add(base);
    switch (base) {
      case '_count':
        if (!/^[0-9]{1,9}$/.test(value)) fail();
        r.count = Number(value);
        break;
      case '_elements': {
        const els = value.split(',');
        if (els.length > MAX_VALUES || !els.every((e) => ELEMENT.test(e))) fail();
        r.elements = els;
        break;
      }
      case '_summary':
        r.summary = oneOf(value, ['true', 'false', 'text', 'data', 'count'] as const);
        break;
      case '_sort': {
        const keys = value.split(',');
        if (keys.length > 32) fail();
        r.sort = keys.map((k) => {
          const descending = k.startsWith('-');
          const n = descending ? k.slice(1) : k;
          if (!CODE.test(n)) fail();
          return { name: n, descending };
        });
        break;
      }
      case '_total':
        r.total = oneOf(value, ['none', 'estimate', 'accurate'] as const);
        break;
      case '_contained':
        r.contained = oneOf(value, ['true', 'false', 'both'] as const);
        break;
      case '_containedType':
        r.containedType = oneOf(value, ['container', 'contained'] as const);
        break;
      default:
        fail();
    }
  }
  return {
    params,
    result: {
      count: r.count,
      include,
      revinclude,
      elements: r.elements,
      summary: r.summary,
      sort: r.sort,
      total: r.total,
      contained: r.contained,
      containedType: r.containedType,
    },
  };
}
