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

/**
 * If `url` is absolute and lies under `baseUrl`, returns the part after the base (no leading
 * slash); undefined when it is absolute but elsewhere (or `baseUrl` is not given); the input
 * unchanged when it is relative.
 */
export function relativeToBase(url: string, baseUrl: string | undefined): string | undefined {
  if (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(url)) return url;
  if (baseUrl === undefined) return undefined;
  const base = splitAbsolute(baseUrl);
  const target = splitAbsolute(url);
  if (base === undefined || target === undefined) return undefined;
  if (base.scheme !== target.scheme || base.authority !== target.authority) return undefined;
  const prefix = base.path + '/';
  if (!target.path.startsWith(prefix)) return undefined;
  return target.path.slice(prefix.length);
}

function typeAllowed(type: string, ctx: ReferenceContext): boolean {
  if (ctx.typeModifier !== undefined && ctx.typeModifier !== type) return false;
  const targets = ctx.targets ?? [];
  return targets.length === 0 || targets.includes(type);
}

/** Normalizes `value` (one OR-alternative, escapes already removed). */
export function normalizeReference(value: string, ctx: ReferenceContext = {}): NormalizedReference {
  if (value.length > 2048 || value.includes('%')) return UNKNOWN;
  const rel = relativeToBase(value, ctx.baseUrl);
  if (rel === undefined) return UNKNOWN;
  const segs = rel.split('/');
  if (segs.length === 1) {
    const id = segs[0] ?? '';
    if (!isFhirId(id)) return UNKNOWN;
    const implied =
      ctx.typeModifier ?? (ctx.targets !== undefined && ctx.targets.length === 1 ? ctx.targets[0] : undefined);
    if (implied === undefined || !isResourceType(implied)) return UNKNOWN;
    return { kind: 'resource', type: implied, id, versionId: undefined };
  }
  const [type = '', id = '', hist, vid] = segs;
  if (segs.length !== 2 && !(segs.length === 4 && hist === '_history')) return UNKNOWN;
  if (!isResourceType(type) || !isFhirId(id) || !typeAllowed(type, ctx)) return UNKNOWN;
  if (vid !== undefined && !isFhirId(vid)) return UNKNOWN;
  return { kind: 'resource', type, id, versionId: vid };
}

/**
 * Convenience: the Patient id a reference value names, or undefined when it names no Patient on
 * this server (undefined rather than a sentinel string: `unknown` is itself a valid FHIR id).
 */
export function referencedPatientId(value: string, ctx: ReferenceContext = {}): string | undefined {
  const ref = normalizeReference(value, ctx);
  return ref.kind === 'resource' && ref.type === 'Patient' ? ref.id : undefined;
}
