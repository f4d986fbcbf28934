/**
 * SMART launch context from a verified Principal: the launch patient and encounter (FHIR ids),
 * `fhirContext` references, and the `fhirUser` identity.
 *
 * A malformed value is a denial (`launch_context_invalid`), never "no context": a patient-level
 * grant with an unreadable patient must not be evaluated as if it had none.
 */
import type { Principal } from '../core/principal.ts';
import type { ReasonCode } from '../core/reasons.ts';
import { normalizeReference, relativeToBase } from '../fhir/reference.ts';
import { isFhirId, isResourceType } from '../fhir/resource-types.ts';

export type FhirUserType = 'Patient' | 'Practitioner' | 'PractitionerRole' | 'RelatedPerson' | 'Person';
const FHIR_USER_TYPES: ReadonlySet<string> = new Set<FhirUserType>(['Patient', 'Practitioner', 'PractitionerRole', 'RelatedPerson', 'Person']);

export interface FhirUser {
  readonly type: FhirUserType;
  readonly id: string;
  /** The absolute base the claim named, when it was an absolute URL; undefined when relative. */
  readonly base: string | undefined;
}

/** One `fhirContext` item reduced to the resource it names (SMART 2.0 strings or 2.1 objects). */
export interface ContextReference {
  readonly type: string;
  readonly id: string;
  /** The item's `role`, when given (SMART 2.1). */
  readonly role: string | undefined;
}

export interface LaunchContext {
  readonly patient: string | undefined;
  readonly encounter: string | undefined;
  readonly fhirContext: readonly ContextReference[];
  readonly fhirUser: FhirUser | undefined;
}

export type LaunchResult = { readonly ok: true; readonly context: LaunchContext } | { readonly ok: false; readonly reason: ReasonCode };

export interface LaunchOptions {
  /** This server's absolute base URL; `fhirContext` references are resolved only under it. */
  readonly baseUrl?: string;
}

const MAX_CONTEXT_ITEMS = 32;
const invalid: LaunchResult = Object.freeze({ ok: false, reason: 'launch_context_invalid' });

/**
 * Parses a `fhirUser` claim: `Type/id` or an absolute URL ending in `Type/id` (the identity
 * provider's FHIR server may differ from this one, so any base is accepted and reported).
 */
export function parseFhirUser(claim: string): FhirUser | undefined {
  if (claim.length > 2048 || claim.includes('%') || claim.includes('?') || claim.includes('#')) return undefined;
  const absolute = /^https?:\/\/[^/]+(\/[^?#]*)?$/i.test(claim);
  if (!absolute && /^[A-Za-z][A-Za-z0-9+.-]*:/.test(claim)) return undefined;
  const segs = claim.split('/');
  const id = segs[segs.length - 1] ?? '';
  const type = segs[segs.length - 2] ?? '';
  if (!absolute && segs.length !== 2) return undefined;
  if (!FHIR_USER_TYPES.has(type) || !isFhirId(id)) return undefined;
  if (absolute && segs.slice(3, -2).some((s) => s === '' || s === '.' || s === '..')) return undefined;
  const base = absolute ? segs.slice(0, -2).join('/') : undefined;
  return { type: type as FhirUserType, id, base };
}

function contextItem(item: unknown, opts: LaunchOptions): ContextReference | undefined {
  let reference: unknown = item;
  let role: string | undefined;
  if (typeof item === 'object' && item !== null && !Array.isArray(item)) {
    const rec = item as Record<string, unknown>;
    reference = rec['reference'];
    if (rec['role'] !== undefined) {
      if (typeof rec['role'] !== 'string') return undefined;
      role = rec['role'];
    }
  }
  if (typeof reference !== 'string') return undefined;
  if (relativeToBase(reference, opts.baseUrl) === undefined) return undefined;
  const ref = normalizeReference(reference, opts.baseUrl === undefined ? {} : { baseUrl: opts.baseUrl });
  // A versioned or bare-id reference is not a launch context SMART defines.
  if (ref.kind !== 'resource' || ref.versionId !== undefined || !isResourceType(ref.type)) return undefined;
  return { type: ref.type, id: ref.id, role };
}

/**
 * The launch context of `principal`. `fhirContext` items other than references (e.g. SMART 2.1
 * `canonical` or `identifier` items) are not resource grants and are skipped; a reference that does
 * not parse makes the whole context invalid.
 */
export function launchContext(principal: Principal, opts: LaunchOptions = {}): LaunchResult {
  const { patient, encounter, fhirUser } = principal;
  if (patient !== undefined && !isFhirId(patient)) return invalid;
  if (encounter !== undefined && !isFhirId(encounter)) return invalid;
  let user: FhirUser | undefined;
  if (fhirUser !== undefined) {
    user = parseFhirUser(fhirUser);
    if (user === undefined) return invalid;
  }
  if (!Array.isArray(principal.fhirContext) || principal.fhirContext.length > MAX_CONTEXT_ITEMS) return invalid;
  const fhirContext: ContextReference[] = [];
  for (const item of principal.fhirContext) {
    const isObject = typeof item === 'object' && item !== null && !Array.isArray(item);
    if (isObject && (item as Record<string, unknown>)['reference'] === undefined) continue;
    const ref = contextItem(item, opts);
    if (ref === undefined) return invalid;
    fhirContext.push(ref);
  }
  return { ok: true, context: { patient, encounter, fhirContext, fhirUser: user } };
}
