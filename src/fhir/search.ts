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
import { append, EMPTY } from './lists.ts';
import { parseQueryPairs } from './query.ts';
import type { QueryPair } from './query.ts';
import { isResourceType } from './resource-types.ts';
import type { SearchParamDef } from './search-param-def.ts';
import { searchParamDef } from './search-params.ts';

/** R4 search comparators (prefixes) for number, date and quantity parameters. */
export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
const PREFIXES: readonly Prefix[] = ['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap'];

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
  include: EMPTY,
  revinclude: EMPTY,
  elements: undefined,
  summary: undefined,
  sort: undefined,
  total: undefined,
  contained: undefined,
  containedType: undefined,
});

export const EMPTY_SEARCH: ParsedSearch = Object.freeze({ params: EMPTY, result: EMPTY_RESULT_PARAMS });

/** Names of the result parameters (they shape the response, not the match). */
export const RESULT_PARAM_NAMES: ReadonlySet<string> = new Set([
  '_count', '_include', '_revinclude', '_elements', '_summary', '_sort', '_total', '_contained', '_containedType',
]);

// Patterns live at module level: a regex literal inside a function is a new RegExp object on
// every call.
const CODE = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;
const COUNT = /^[0-9]{1,9}$/;
const FHIR_ESCAPE = /\\([,$|\\])/g;
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
  return raw.replace(FHIR_ESCAPE, '$1');
}

/**
 * Splits a parameter value into its OR-alternatives, as splitEscaped does (same escapes, same cap
 * of MAX_VALUES + 1 alternatives), and reads each one with toValue. A first scan checks the
 * escapes and counts the alternatives, so that the usual single value needs no splitting at all.
 */
function parseValues(value: string, def: SearchParamDef | undefined, chained: boolean): SearchValue[] {
  let alternatives = 1;
  let escaped = false;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c === 0x5c) {
      const next = value.charCodeAt(i + 1);
      if (next !== 0x2c && next !== 0x24 && next !== 0x7c && next !== 0x5c) fail(); // \, \$ \| \\ only
      escaped = true;
      i += 1;
    } else if (c === 0x2c) {
      alternatives += 1;
    }
  }
  if (alternatives > MAX_VALUES + 1) fail();
  if (alternatives === 1) return [toValue(value, def, chained, escaped)];
  const values: SearchValue[] = [];
  let start = 0;
  escaped = false;
  for (let i = 0; i <= value.length; i++) {
    const c = i === value.length ? 0x2c : value.charCodeAt(i); // the end closes the last alternative
    if (c === 0x5c) {
      escaped = true;
      i += 1;
    } else if (c === 0x2c) {
      values.push(toValue(value.slice(start, i), def, chained, escaped));
      start = i + 1;
      escaped = false;
    }
  }
  return values;
}

/** What may follow a comparator prefix: 0-9, '+', '-' or '.' (NaN past the end is none of them). */
function startsNumber(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2d || c === 0x2e;
}

/** One alternative; `escaped` says whether it holds a FHIR escape to remove. */
function toValue(raw: string, def: SearchParamDef | undefined, chained: boolean, escaped: boolean): SearchValue {
  let prefix: Prefix | undefined;
  let body = raw;
  const t = def?.type;
  if (!chained && (t === 'number' || t === 'date' || t === 'quantity') && startsNumber(raw.charCodeAt(2))) {
    for (const p of PREFIXES) {
      if (raw.startsWith(p)) {
        prefix = p;
        body = raw.slice(2);
        break;
      }
    }
  }
  return { raw, prefix, value: escaped ? unescapeValue(body) : body };
}

/** `name` or `name:modifier` (one link of a parameter name); anything else is rejected. */
function splitModifier(segment: string): ChainLink {
  const colon = segment.indexOf(':');
  const name = colon < 0 ? segment : segment.slice(0, colon);
  const modifier = colon < 0 ? undefined : segment.slice(colon + 1);
  if (!CODE.test(name)) fail();
  if (modifier !== undefined && (modifier.includes(':') || (!MODIFIERS.has(modifier) && !isResourceType(modifier)))) fail();
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
  if (fullName.startsWith('_has:')) {
    const has = parseHas(fullName);
    return { name: '_has', modifier: undefined, chain: EMPTY, has, values: parseValues(value, undefined, true), def: undefined };
  }
  // Most names are not chained: only a chained name is split on '.'.
  const segments = fullName.includes('.') ? fullName.split('.') : undefined;
  if (segments !== undefined && segments.length > 8) fail();
  const first = splitModifier(segments === undefined ? fullName : (segments[0] ?? ''));
  let chain: readonly ChainLink[] = EMPTY;
  if (segments !== undefined) {
    const links: ChainLink[] = [];
    for (let i = 1; i < segments.length; i++) links.push(splitModifier(segments[i] ?? ''));
    // Every link that is followed by another must be a plain reference hop: at most a type modifier.
    if (first.modifier !== undefined && !isResourceType(first.modifier)) fail();
    for (let i = 0; i < links.length - 1; i++) {
      const modifier = links[i]?.modifier;
      if (modifier !== undefined && !isResourceType(modifier)) fail();
    }
    chain = links;
  }
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
    values: parseValues(value, def, chain.length > 0),
    def,
  };
}

const ITERATE = ':iterate';

/** `_include[:iterate]=Source:param[:Target]` (or `*`); `base` is `name` up to its first ':'. */
function parseInclude(name: string, base: string, value: string): Include {
  // The only modifier is :iterate.
  const iterate = name !== base;
  if (iterate && (name.length !== base.length + ITERATE.length || !name.endsWith(ITERATE))) fail();
  if (value === '*') return { wildcard: true, sourceType: undefined, param: undefined, targetType: undefined, iterate };
  // Two or three ':'-separated parts.
  const first = value.indexOf(':');
  if (first < 0) fail();
  const second = value.indexOf(':', first + 1);
  if (second >= 0 && value.indexOf(':', second + 1) >= 0) fail();
  const sourceType = value.slice(0, first);
  const param = second < 0 ? value.slice(first + 1) : value.slice(first + 1, second);
  const targetType = second < 0 ? undefined : value.slice(second + 1);
  if (!isResourceType(sourceType)) fail();
  if (param !== '*' && !CODE.test(param)) fail();
  if (targetType !== undefined && !isResourceType(targetType)) fail();
  return { wildcard: false, sourceType, param, targetType, iterate };
}

const SUMMARY_VALUES = ['true', 'false', 'text', 'data', 'count'] as const;
const TOTAL_VALUES = ['none', 'estimate', 'accurate'] as const;
const CONTAINED_VALUES = ['true', 'false', 'both'] as const;
const CONTAINED_TYPE_VALUES = ['container', 'contained'] as const;

function oneOf<T extends string>(value: string, allowed: readonly T[]): T {
  for (const a of allowed) if (a === value) return a;
  fail();
}

/**
 * Parses decoded query pairs as a search on `resourceType` (undefined for a system-level search).
 * `_format` and `_pretty` must already have been removed (see classify); they are rejected here so
 * that a caller cannot forget to strip them.
 */
export function parseSearch(pairs: readonly QueryPair[], resourceType: string | undefined): SearchResult {
  const search = tryParseSearch(pairs, resourceType);
  return search === undefined ? invalid : { ok: true, search };
}

/** parseSearch without the result wrapper, for the request path: undefined means `fhir_search_invalid`. */
export function tryParseSearch(pairs: readonly QueryPair[], resourceType: string | undefined): ParsedSearch | undefined {
  try {
    return parseSearchOrThrow(pairs, resourceType);
  } catch (e) {
    if (e instanceof SearchSyntaxError) return undefined;
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
  let params: SearchParam[] | undefined;
  let include: Include[] | undefined;
  let revinclude: Include[] | undefined;
  // The singleton result parameters; each is defined once seen (that is how a repeat is caught).
  let count: number | undefined;
  let elements: string[] | undefined;
  let summary: ResultParams['summary'];
  let sort: SortKey[] | undefined;
  let total: ResultParams['total'];
  let contained: ResultParams['contained'];
  let containedType: ResultParams['containedType'];
  for (const [name, value] of pairs) {
    const colon = name.indexOf(':');
    const base = colon < 0 ? name : name.slice(0, colon);
    if (base === '_format' || base === '_pretty') fail();
    if (base === '_include') {
      include = append(include, parseInclude(name, base, value));
      continue;
    }
    if (base === '_revinclude') {
      revinclude = append(revinclude, parseInclude(name, base, value));
      continue;
    }
    if (!RESULT_PARAM_NAMES.has(base)) {
      params = append(params, parseSearchParam(resourceType, name, value));
      continue;
    }
    // The remaining result parameters take no modifier and may appear once: two `_count`s are
    // read as the first by some servers and the last by others.
    if (colon >= 0) fail();
    switch (base) {
      case '_count':
        if (count !== undefined || !COUNT.test(value)) fail();
        count = Number(value);
        break;
      case '_elements': {
        if (elements !== undefined) fail();
        const els = value.split(',');
        if (els.length > MAX_VALUES || !els.every((e) => ELEMENT.test(e))) fail();
        elements = els;
        break;
      }
      case '_summary':
        if (summary !== undefined) fail();
        summary = oneOf(value, SUMMARY_VALUES);
        break;
      case '_sort': {
        if (sort !== undefined) fail();
        const keys = value.split(',');
        if (keys.length > 32) fail();
        sort = keys.map((k) => {
          const descending = k.startsWith('-');
          const n = descending ? k.slice(1) : k;
          if (!CODE.test(n)) fail();
          return { name: n, descending };
        });
        break;
      }
      case '_total':
        if (total !== undefined) fail();
        total = oneOf(value, TOTAL_VALUES);
        break;
      case '_contained':
        if (contained !== undefined) fail();
        contained = oneOf(value, CONTAINED_VALUES);
        break;
      case '_containedType':
        if (containedType !== undefined) fail();
        containedType = oneOf(value, CONTAINED_TYPE_VALUES);
        break;
      default:
        fail();
    }
  }
  const noResult =
    count === undefined && include === undefined && revinclude === undefined && elements === undefined && summary === undefined &&
    sort === undefined && total === undefined && contained === undefined && containedType === undefined;
  if (noResult && params === undefined) return EMPTY_SEARCH;
  return {
    params: params ?? EMPTY,
    result: noResult
      ? EMPTY_RESULT_PARAMS
      : { count, include: include ?? EMPTY, revinclude: revinclude ?? EMPTY, elements, summary, sort, total, contained, containedType },
  };
}
