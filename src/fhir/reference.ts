/**
 * Normalizes one reference search value (or a reference string from a token or bundle) to the
 * resource it names on *this* server, so that a policy can compare it with the launch patient.
 *
 * Accepted forms: `Patient/123`, `Patient/123/_history/2`, a bare `123` when the type is implied
 * (by a `:Patient` modifier or a parameter that can only target one type), and an absolute URL
 * under this server's own base URL. Everything else — other servers, logical identifiers,
 * percent-escapes, dot segments — is `unknown`, which a policy must treat as "not the patient".
 */
import { isFhirId, isResourceType } from './resource-types.ts';

export type NormalizedReference =
  | { readonly kind: 'resource'; readonly type: string; readonly id: string; readonly versionId: string | undefined }
  | { readonly kind: 'unknown' };

export interface ReferenceContext {
  /** Types the parameter may target (from the search-parameter table); empty = any. */
  readonly targets?: readonly string[];
  /** The `:Type` modifier of the parameter, when present. */
  readonly typeModifier?: string;
  /** This server's absolute base URL (e.g. `https://ehr.example.org/fhir`); absolute references
   *  are only resolved under it. */
  readonly baseUrl?: string;
}

const UNKNOWN: NormalizedReference = Object.freeze({ kind: 'unknown' });
const ABSOLUTE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]+)(\/[^?#]*)?$/;
/** A URI scheme and its colon (module level: a regex literal in a function is made per call). */
const SCHEME = /^[A-Za-z][A-Za-z0-9+.-]*:/;

interface SplitBase {
  readonly scheme: string;
  readonly authority: string;
  readonly path: string;
}

function splitAbsolute(url: string): SplitBase | undefined {
  const m = ABSOLUTE.exec(url);
  if (m === null) return undefined;
  return {
    scheme: (m[1] ?? '').toLowerCase(),
    authority: (m[2] ?? '').toLowerCase(),
    path: (m[3] ?? '').replace(/\/+$/, ''),
  };
}

/** The last base URL split (a deployment has one): not split again for every absolute reference. */
let lastBase: { readonly url: string; readonly split: SplitBase | undefined } | undefined;
function splitBase(baseUrl: string): SplitBase | undefined {
  if (lastBase?.url !== baseUrl) lastBase = { url: baseUrl, split: splitAbsolute(baseUrl) };
  return lastBase.split;
}

/**
 * If `url` is absolute and lies under `baseUrl`, returns the part after the base (no leading
 * slash); undefined when it is absolute but elsewhere (or `baseUrl` is not given); the input
 * unchanged when it is relative.
 */
export function relativeToBase(url: string, baseUrl: string | undefined): string | undefined {
  if (!SCHEME.test(url)) return url;
  if (baseUrl === undefined) return undefined;
  const base = splitBase(baseUrl);
  const target = splitAbsolute(url);
  if (base === undefined || target === undefined) return undefined;
  if (base.scheme !== target.scheme || base.authority !== target.authority) return undefined;
  const prefix = base.path + '/';
  if (!target.path.startsWith(prefix)) return undefined;
  return target.path.slice(prefix.length);
}

/**
 * Normalizes `value` (one OR-alternative, escapes already removed). The segments are found with
 * indexOf rather than split: this runs for every value of every reference parameter.
 */
export function normalizeReference(value: string, ctx: ReferenceContext = {}): NormalizedReference {
  return resolve(value, ctx.targets, ctx.typeModifier, ctx.baseUrl);
}

function resolve(value: string, targets: readonly string[] | undefined, typeModifier: string | undefined, baseUrl: string | undefined): NormalizedReference {
  if (value.length > 2048 || value.includes('%')) return UNKNOWN;
  const rel = relativeToBase(value, baseUrl);
  if (rel === undefined) return UNKNOWN;
  const slash = rel.indexOf('/');
  if (slash < 0) {
    // A bare id: the type must be implied by a type modifier or a single-target parameter.
    if (!isFhirId(rel)) return UNKNOWN;
    const implied = typeModifier ?? (targets !== undefined && targets.length === 1 ? targets[0] : undefined);
    if (implied === undefined || !isResourceType(implied)) return UNKNOWN;
    return { kind: 'resource', type: implied, id: rel, versionId: undefined };
  }
  // Type/id, or Type/id/_history/vid: exactly two or exactly four segments.
  const idEnd = rel.indexOf('/', slash + 1);
  let versionId: string | undefined;
  if (idEnd >= 0) {
    const histEnd = rel.indexOf('/', idEnd + 1);
    if (histEnd < 0 || rel.indexOf('/', histEnd + 1) >= 0) return UNKNOWN;
    if (histEnd - idEnd - 1 !== HISTORY.length || !rel.startsWith(HISTORY, idEnd + 1)) return UNKNOWN;
    versionId = rel.slice(histEnd + 1);
  }
  const type = rel.slice(0, slash);
  const id = idEnd < 0 ? rel.slice(slash + 1) : rel.slice(slash + 1, idEnd);
  if (!isResourceType(type) || !isFhirId(id) || !typeAllowed(type, targets, typeModifier)) return UNKNOWN;
  if (versionId !== undefined && !isFhirId(versionId)) return UNKNOWN;
  return { kind: 'resource', type, id, versionId };
}

const HISTORY = '_history';

function typeAllowed(type: string, targets: readonly string[] | undefined, typeModifier: string | undefined): boolean {
  if (typeModifier !== undefined && typeModifier !== type) return false;
  return targets === undefined || targets.length === 0 || targets.includes(type);
}

/**
 * Convenience: the Patient id a reference value names, or undefined when it names no Patient on
 * this server (undefined rather than a sentinel string: `unknown` is itself a valid FHIR id).
 */
export function referencedPatientId(value: string, ctx: ReferenceContext = {}): string | undefined {
  return patientIdOf(value, ctx.targets, ctx.typeModifier, ctx.baseUrl);
}

/** referencedPatientId with the context as arguments: no context object per value on the request path. */
export function patientIdOf(
  value: string,
  targets: readonly string[] | undefined,
  typeModifier: string | undefined,
  baseUrl: string | undefined,
): string | undefined {
  const ref = resolve(value, targets, typeModifier, baseUrl);
  return ref.kind === 'resource' && ref.type === 'Patient' ? ref.id : undefined;
}
