/**
 * Consent and sensitivity: patients who opted out of a client's access, and resource types or
 * categories that need a declared purpose of use. The edge can only apply opt-outs to patients
 * the request names (the launch patient, `Patient/<id>`, patient parameters); wide user/system
 * searches that name none are left to the FHIR server's own consent engine.
 */
import type { HttpRequest } from '../core/http.ts';
import type { Principal } from '../core/principal.ts';
import type { ReasonCode } from '../core/reasons.ts';
import type { FhirRequest } from '../fhir/request.ts';
import type { CompiledPolicy } from './compile.ts';

const PURPOSE = /^[A-Za-z][A-Za-z0-9._-]{0,63}$/;

export function checkConsent(
  policy: CompiledPolicy,
  req: HttpRequest,
  fhir: FhirRequest,
  p: Principal,
  patients: readonly string[],
  type: string | undefined,
): { reason: ReasonCode; rule: string } | undefined {
  for (const patient of patients) {
    const clients = policy.consent.optOut.get(patient);
    if (clients !== undefined && (clients.has('*') || clients.has(p.clientId))) return { reason: 'consent_opt_out', rule: 'consent:opt-out' };
  }
  if (type === undefined) return undefined;
  for (const rule of policy.consent.sensitive) {
    if (!rule.resourceTypes.has(type)) continue;
    if (rule.categories !== undefined && !touchesCategories(fhir, rule.categories)) continue;
    const purpose = req.headers.get(policy.consent.purposeOfUseHeader);
    if (purpose === undefined || req.duplicateHeaders.has(policy.consent.purposeOfUseHeader) || !PURPOSE.test(purpose) || !rule.purposeOfUse.has(purpose)) {
      return { reason: 'purpose_of_use_required', rule: `consent:${rule.name}` };
    }
  }
  return undefined;
}

/**
 * Whether the request may return resources of the sensitive categories: unless a `category`
 * parameter confines the search to other categories, assume it may.
 */
function touchesCategories(fhir: FhirRequest, categories: ReadonlySet<string>): boolean {
  const isSearch = fhir.interaction.startsWith('search');
  if (!isSearch) return true;
  const confining = fhir.search.params.filter((p) => p.name === 'category' && p.modifier === undefined && p.chain.length === 0);
  if (confining.length === 0) return true;
  // ANDed parameters: the search is safe if any one parameter confines to non-sensitive values.
  return !confining.some((p) =>
    p.values.every((v) => {
      const code = v.value.includes('|') ? v.value.slice(v.value.lastIndexOf('|') + 1) : v.value;
      return !categories.has(v.value) && !categories.has(code);
    }),
  );
}
