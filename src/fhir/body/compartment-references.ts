/**
 * The references a resource body puts in its Patient-compartment elements, so that the policy can
 * check that a create or update under a patient-level grant names the launch patient there.
 *
 * Which element a compartment parameter means comes from the parameter's SearchParameter
 * `expression` (generated/compartment-expressions.ts), e.g. `Observation.subject` or
 * `Task.for.where(resolve() is Patient)`, evaluated by the small FHIRPath subset in
 * fhirpath-lite.ts. Every expression is parsed once, when this module loads; the unit test proves
 * that all 102 Patient-compartment parameters of R4 parse.
 */
import { COMPARTMENT_EXPRESSIONS } from './generated/compartment-expressions.ts';
import { evaluatePaths, parseExpression } from './fhirpath-lite.ts';
import type { PathExpr } from './fhirpath-lite.ts';

/** Thrown when a parameter's expression uses FHIRPath this module does not evaluate. Callers
 *  must treat it as a denial (it cannot happen with the shipped R4 tables; see the test). */
export class UnsupportedCompartmentExpressionError extends Error {
  readonly code = 'unsupported_compartment_expression';
}

type Compiled = { readonly ok: true; readonly paths: readonly PathExpr[] } | { readonly ok: false; readonly error: string };

const COMPILED: ReadonlyMap<string, ReadonlyMap<string, Compiled>> = new Map(
  Object.entries(COMPARTMENT_EXPRESSIONS).map(([type, params]) => [
    type,
    new Map(Object.entries(params).map(([param, expr]) => [param, parseExpression(expr)])),
  ]),
);

/** Counts of Patient-compartment parameters whose expression is / is not evaluable, with the latter listed. */
export function compartmentExpressionSupport(): { readonly supported: number; readonly unsupported: readonly string[] } {
  let supported = 0;
  const unsupported: string[] = [];
  for (const [type, params] of COMPILED) {
    for (const [param, c] of params) {
      if (c.ok) supported++;
      else unsupported.push(`${type}.${param}: ${c.error}`);
    }
  }
  return { supported, unsupported };
}

/**
 * The `reference` strings found at the elements of `params` (Patient-compartment parameter names
 * of the resource's type), in document order per parameter, duplicates kept. References without a
 * `reference` string (identifier-only, or display-only) yield nothing.
 *
 * Throws `TypeError` when the resource has no R4 compartment type or a parameter is not one of its
 * compartment parameters (a caller mistake), and `UnsupportedCompartmentExpressionError` as above.
 */
export function compartmentReferences(resource: Readonly<Record<string, unknown>>, params: readonly string[]): string[] {
  const type = resource['resourceType'];
  const table = typeof type === 'string' ? COMPILED.get(type) : undefined;
  if (table === undefined) throw new TypeError('compartmentReferences: resource type is not in the Patient compartment');
  const out: string[] = [];
  for (const param of params) {
    const compiled = table.get(param);
    if (compiled === undefined) throw new TypeError(`compartmentReferences: ${param} is not a Patient-compartment parameter of this type`);
    if (!compiled.ok) throw new UnsupportedCompartmentExpressionError(`${String(type)}.${param}: ${compiled.error}`);
    for (const node of evaluatePaths(resource as Record<string, unknown>, compiled.paths)) {
      if (typeof node === 'object' && node !== null && !Array.isArray(node)) {
        const ref = (node as Record<string, unknown>)['reference'];
        if (typeof ref === 'string') out.push(ref);
      }
    }
  }
  return out;
}
