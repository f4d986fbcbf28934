/**
 * Body rules in the authorize phase: the forwarded body is validated (content type, UTF-8, strict
 * JSON, caps, resourceType/id against the URL, FHIR R4 JSON Schema) and, under a patient-level
 * grant, a created or updated resource must place the launch patient — and only the launch
 * patient — in its Patient-compartment fields; a JSON Patch may not touch those fields.
 */
import type { HttpRequest } from '../core/http.ts';
import type { ReasonCode } from '../core/reasons.ts';
import { patientCompartmentParams } from '../fhir/compartment.ts';
import { COMPARTMENT_EXPRESSIONS } from '../fhir/body/generated/compartment-expressions.ts';
import { compartmentReferences } from '../fhir/body/compartment-references.ts';
import { compileBodyRules } from '../fhir/body/rules.ts';
import type { BodyRules } from '../fhir/body/rules.ts';
import { isBodyless, NO_BODY, validateBody } from '../fhir/body/validate.ts';
import type { BodyResult } from '../fhir/body/validate.ts';
import { referencedPatientId } from '../fhir/reference.ts';
import type { FhirRequest } from '../fhir/request.ts';
import type { CompiledPolicy } from './compile.ts';

const rulesCache = new WeakMap<CompiledPolicy, BodyRules>();

/**
 * The compiled body rules of a policy. The FHIR schema takes seconds to compile the first time in
 * a process (then it is shared), so the sidecar calls this at start-up (`warmUp`), never first on
 * a request Envoy is timing.
 */
export function bodyRulesFor(policy: CompiledPolicy): BodyRules {
  let rules = rulesCache.get(policy);
  if (rules === undefined) {
    const b = policy.body;
    rules = compileBodyRules({
      allowXml: b.contentTypes.has('application/fhir+xml'),
      maxBytes: b.maxBytes,
      maxDepth: b.maxDepth,
      validateSchema: b.schemaValidation,
      unknownElements: b.unknownElements,
    });
    rulesCache.set(policy, rules);
  }
  return rules;
}

export function checkBody(policy: CompiledPolicy, req: HttpRequest, fhir: FhirRequest): BodyResult {
  // GET, HEAD, DELETE … without a body: nothing to read (the common case, answered without work).
  if (isBodyless(req.method, req.body, req.bodyPartial)) return NO_BODY;
  const contentType = req.headers.get('content-type');
  if (contentType !== undefined && req.body !== undefined && req.body.byteLength > 0) {
    const media = contentType.split(';')[0]?.trim().toLowerCase() ?? '';
    const allowedForm = media === 'application/x-www-form-urlencoded' && fhir.interaction.startsWith('search');
    if (!allowedForm && !policy.body.contentTypes.has(media) && !(media === 'application/xml' && policy.body.contentTypes.has('application/fhir+xml'))) {
      return { ok: false, reason: 'fhir_content_type_unsupported', detail: 'content type not allowed by policy' };
    }
  }
  return validateBody(
    {
      method: req.method,
      contentType,
      body: req.body,
      partial: req.bodyPartial,
      resourceType: fhir.resourceType,
      id: fhir.id,
      interaction: fhir.interaction,
    },
    bodyRulesFor(policy),
  );
}

/** The accepted shape of a body, as the compartment check reads it. */
export type AcceptedBody = Pick<BodyResult & { ok: true }, 'format' | 'resource' | 'patch'>;

/** Under a patient-level grant: the body must reference the launch patient and no other patient. */
export function bodyConfinedToPatient(fhir: FhirRequest, body: AcceptedBody, patient: string, baseUrl: string | undefined): ReasonCode | undefined {
  const type = fhir.resourceType;
  if (type === undefined) return undefined;
  if (body.format === 'xml') return 'fhir_content_type_unsupported';
  if (body.patch !== undefined) {
    // A patch cannot be shown to keep the resource in the compartment unless it leaves the
    // compartment fields alone.
    const fields = compartmentFields(type);
    for (const op of body.patch) {
      if (op.op === 'test' || op.op === 'copy') {
        if (op.op === 'copy' && fields.has(op.path.split('/')[1] ?? '')) return 'body_patch_forbidden';
        continue;
      }
      const first = op.path.split('/')[1] ?? '';
      const from = op.op === 'move' ? op.from.split('/')[1] : undefined;
      if (fields.has(first) || (from !== undefined && fields.has(from))) return 'body_patch_forbidden';
    }
    return undefined;
  }
  const resource = body.resource;
  if (resource === undefined) return fhir.interaction === 'create' || fhir.interaction === 'update' ? 'body_missing' : undefined;
  if (resource['resourceType'] !== type) return 'body_resource_mismatch';
  if (type === 'Patient') return resource['id'] === patient || fhir.interaction !== 'update' ? undefined : 'patient_compartment_violation';
  const params = patientCompartmentParams(type);
  if (params === undefined) return 'compartment_type_not_allowed';
  let refs: string[];
  try {
    refs = compartmentReferences(resource, params);
  } catch {
    return 'patient_compartment_unconfined';
  }
  let mine = 0;
  for (const ref of refs) {
    const id = referencedPatientId(ref, baseUrl !== undefined ? { baseUrl } : {});
    if (id === undefined) continue;
    if (id !== patient) return 'patient_compartment_violation';
    mine++;
  }
  return mine > 0 ? undefined : 'patient_compartment_unconfined';
}

/** Top-level elements of `type` that hold Patient-compartment references (from the generated table). */
const COMPARTMENT_FIELDS: ReadonlyMap<string, ReadonlySet<string>> = new Map(
  Object.entries(COMPARTMENT_EXPRESSIONS).map(([type, exprs]) => {
    const fields = new Set<string>();
    for (const expr of Object.values(exprs)) {
      for (const m of expr.matchAll(new RegExp(`(?:^|[|(]\\s*)${type}\\.([A-Za-z]+)`, 'g'))) fields.add(m[1] ?? '');
    }
    return [type, fields];
  }),
);

function compartmentFields(type: string): ReadonlySet<string> {
  return COMPARTMENT_FIELDS.get(type) ?? new Set();
}

/** The resource of bundle entry `index` from a parsed Bundle body, as an AcceptedBody. */
export function bundleEntryBody(bundle: Readonly<Record<string, unknown>> | undefined, index: number): AcceptedBody {
  const entries = bundle?.['entry'];
  const entry = Array.isArray(entries) ? (entries[index] as unknown) : undefined;
  const resource = typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>)['resource'] : undefined;
  return {
    format: 'json',
    resource: typeof resource === 'object' && resource !== null && !Array.isArray(resource) ? (resource as Record<string, unknown>) : undefined,
    patch: undefined,
  };
}
