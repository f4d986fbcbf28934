import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Decision } from '../../../src/core/decision.ts';
import type { Principal } from '../../../src/core/principal.ts';
import type { PolicyEngine } from '../../../src/policy/engine.ts';
import type { FhirAccessPolicySpec } from '../../../src/policy/spec.ts';
import { httpRequest, principal } from '../../support/fixtures.ts';
import { engine } from '../../support/policy.ts';

const P = 'pat-1';

function decide(e: PolicyEngine, method: string, url: string, p: Partial<Principal>, init: { headers?: Array<[string, string]>; body?: string } = {}): Decision {
  const q = url.indexOf('?');
  const lines: Array<[string, string]> = [...(init.headers ?? [])];
  if (init.body !== undefined && !lines.some(([k]) => k === 'content-type')) lines.push(['content-type', 'application/fhir+json']);
  const req = httpRequest({
    method,
    path: q === -1 ? url : url.slice(0, q),
    rawQuery: q === -1 ? '' : url.slice(q + 1),
    headerLines: lines,
    ...(init.body !== undefined ? { body: new TextEncoder().encode(init.body) } : {}),
  });
  const m = e.route(req);
  if (m.kind === 'invalid') return { kind: 'deny', reason: m.reason, phase: 'classify', principal: undefined, rule: '', requiredScope: undefined, retryAfterSeconds: undefined };
  if (m.kind === 'public') return e.allowPublic(req, m);
  return e.authorize(req, m, principal(p));
}

const reasonOf = (d: Decision): string => (d.kind === 'allow' ? 'allowed' : d.reason);
const setOf = (d: Decision): Record<string, string> => (d.kind === 'allow' ? Object.fromEntries(d.query.set) : {});

const patientApp = (scopes: string, extra: Partial<Principal> = {}): Partial<Principal> => ({ scopes: scopes.split(' '), patient: P, ...extra });

describe('SMART 2 permission mapping (interaction × letter)', () => {
  const e = engine({ patientCompartment: { instanceAccess: 'verify' } });
  const cases: Array<[string, string, string, string]> = [
    // method, url, granting letter, interaction
    ['GET', '/fhir/Observation/o1', 'r', 'read'],
    ['GET', '/fhir/Observation/o1/_history/2', 'r', 'vread'],
    ['GET', '/fhir/Observation/o1/_history', 'r', 'history-instance'],
    ['GET', '/fhir/Observation?code=x', 's', 'search-type'],
    ['GET', '/fhir/Observation/_history', 's', 'history-type'],
    ['POST', '/fhir/Observation', 'c', 'create'],
    ['PUT', '/fhir/Observation/o1', 'u', 'update'],
    ['DELETE', '/fhir/Observation/o1', 'd', 'delete'],
  ];
  for (const [method, url, letter, interaction] of cases) {
    for (const level of ['user', 'system']) {
      test(`${interaction} needs "${letter}" (${level}, v2)`, () => {
        const body = method === 'POST' || method === 'PUT' ? JSON.stringify({ resourceType: 'Observation', ...(method === 'PUT' ? { id: 'o1' } : {}), status: 'final', code: { text: 'x' } }) : undefined;
        const init = body !== undefined ? { body } : {};
        assert.equal(reasonOf(decide(e, method, url, { scopes: [`${level}/Observation.${letter}`] }, init)), 'allowed');
        const others = 'cruds'.replace(letter, '');
        const d = decide(e, method, url, { scopes: [`${level}/Observation.${others}`] }, init);
        assert.equal(reasonOf(d), 'scope_insufficient');
        assert.equal(d.kind === 'deny' && d.requiredScope, `${level}/Observation.${letter}`);
      });
    }
  }
  test('v1 read grants r and s; write grants c, u, d but not r', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation/o1', { scopes: ['user/Observation.read'] })), 'allowed');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation?code=x', { scopes: ['user/Observation.read'] })), 'allowed');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation/o1', { scopes: ['user/Observation.write'] })), 'scope_insufficient');
    assert.equal(reasonOf(decide(e, 'DELETE', '/fhir/Observation/o1', { scopes: ['user/Observation.write'] })), 'allowed');
  });
  test('v1 scopes are refused when the policy does not accept them', () => {
    const v2only = engine({ scopes: { acceptV1: false } });
    assert.equal(reasonOf(decide(v2only, 'GET', '/fhir/Observation/o1', { scopes: ['user/Observation.read'] })), 'scope_insufficient');
  });
  test('wildcard type scope grants any type; wrong type does not', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Condition/c1', { scopes: ['user/*.rs'] })), 'allowed');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Condition/c1', { scopes: ['user/Observation.rs'] })), 'scope_insufficient');
  });
  test('malformed scopes grant nothing (no partial grant)', () => {
    for (const s of ['user/Observation.sr', 'user/Observation.rr', 'User/Observation.rs', 'user/observation.rs', 'user/Observation.rs?', 'user/Observation.read?category=x', 'user/Observation']) {
      assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation/o1', { scopes: [s] })), 'scope_insufficient', s);
    }
  });
  test('levels the policy does not accept are ignored', () => {
    const noSystem = engine({ scopes: { levels: ['patient', 'user'] } });
    assert.equal(reasonOf(decide(noSystem, 'GET', '/fhir/Observation/o1', { scopes: ['system/Observation.rs'] })), 'scope_insufficient');
  });
});

describe('patient compartment under patient-level scopes', () => {
  const e = engine({ patientCompartment: { instanceAccess: 'deny', narrowSearches: true, nonCompartmentTypes: ['Medication'] } });
  const app = patientApp('patient/*.rs');

  test('Patient read of the launch patient only', () => {
    assert.equal(reasonOf(decide(e, 'GET', `/fhir/Patient/${P}`, app)), 'allowed');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Patient/pat-2', app)), 'patient_compartment_violation');
  });
  test('search confined by patient param in every accepted reference form', () => {
    for (const v of [P, `Patient/${P}`]) {
      assert.equal(reasonOf(decide(e, 'GET', `/fhir/Observation?patient=${encodeURIComponent(v)}`, app)), 'allowed', v);
      assert.equal(reasonOf(decide(e, 'GET', `/fhir/Observation?subject=${encodeURIComponent(`Patient/${P}`)}`, app)), 'allowed');
    }
  });
  test('an OR-list with another patient is a violation', () => {
    assert.equal(reasonOf(decide(e, 'GET', `/fhir/Observation?patient=${P},pat-2`, app)), 'patient_compartment_violation');
    assert.equal(reasonOf(decide(e, 'GET', `/fhir/Observation?patient=${P}&subject=Patient/pat-2`, app)), 'patient_compartment_violation');
  });
  test('an unconfined search is narrowed by query rewrite', () => {
    const d = decide(e, 'GET', '/fhir/Observation?code=1234-5', app);
    assert.equal(reasonOf(d), 'allowed');
    assert.deepEqual(setOf(d), { patient: `Patient/${P}` });
  });
  test('without narrowing, an unconfined search is denied', () => {
    const strict = engine({ patientCompartment: { narrowSearches: false } });
    assert.equal(reasonOf(decide(strict, 'GET', '/fhir/Observation?code=1234-5', app)), 'patient_compartment_unconfined');
  });
  test('chained compartment parameter does not confine', () => {
    const strict = engine({ patientCompartment: { narrowSearches: false } });
    assert.equal(reasonOf(decide(strict, 'GET', '/fhir/Observation?subject:Patient.name=smith', app)), 'patient_compartment_unconfined');
  });
  test('compartment search for the launch patient only', () => {
    assert.equal(reasonOf(decide(e, 'GET', `/fhir/Patient/${P}/Observation`, app)), 'allowed');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Patient/pat-2/Observation', app)), 'patient_compartment_violation');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Encounter/e1/Observation', app)), 'patient_compartment_violation');
  });
  test('instance read on a compartment type: deny mode refuses, verify mode obliges a lookup', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation/o1', app)), 'compartment_instance_unverifiable');
    const v = engine({ patientCompartment: { instanceAccess: 'verify' } });
    const d = decide(v, 'GET', '/fhir/Observation/o1', app);
    assert.equal(d.kind, 'allow');
    assert.deepEqual(d.kind === 'allow' && d.obligations, [{ kind: 'verify-instance', detail: { resourceType: 'Observation', id: 'o1', criteria: `patient=Patient%2F${P}` } }]);
  });
  test('types outside the compartment only when listed, read-only', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Medication/m1', app)), 'allowed');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Practitioner/x', app)), 'compartment_type_not_allowed');
  });
  test('no launch patient → launch_context_missing', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation?patient=x', { scopes: ['patient/*.rs'] })), 'launch_context_missing');
  });
  test('system-wide search is never allowed under patient scopes', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir?_type=Observation', patientApp('patient/*.rs'))), 'search_system_denied');
  });
  test('type history cannot be confined', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation/_history', app)), 'patient_compartment_unconfined');
  });
});

describe('search guardrails', () => {
  const e = engine({ search: { maxCount: 50, maxChainDepth: 1, requiredParams: [{ resourceType: 'Observation', anyOf: ['patient', 'subject', 'code'] }] } });
  const user = { scopes: ['user/*.rs'] };
  test('_has is denied by default (inference oracle)', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Patient?_has:Observation:patient:code=1234-5', user)), 'search_has_denied');
  });
  test('chain depth is limited', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation?subject:Patient.name=x', user)), 'allowed');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation?subject:Patient.general-practitioner:Practitioner.name=x', user)), 'search_chain_denied');
  });
  test('_count above the cap is rewritten down', () => {
    assert.deepEqual(setOf(decide(e, 'GET', '/fhir/Observation?code=x&_count=1000', user)), { _count: '50' });
    assert.deepEqual(setOf(decide(e, 'GET', '/fhir/Observation?code=x&_count=10', user)), {});
  });
  test('required parameters per type', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation?status=final', user)), 'search_param_required');
  });
  test('_include of a type not granted, * and :iterate are denied', () => {
    const obsOnly = { scopes: ['user/Observation.rs'] };
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation?code=x&_include=Observation:subject:Patient', obsOnly)), 'search_include_denied');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation?code=x&_include=Observation:subject:Patient', user)), 'allowed');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation?code=x&_include=*', user)), 'search_include_denied');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation?code=x&_include:iterate=Observation:subject', user)), 'search_include_denied');
  });
  test('_filter and _query are denied unless allowed', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation?code=x&_filter=' + encodeURIComponent('code eq x'), user)), 'search_feature_denied');
  });
  test('operations not named by the policy are denied', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Patient/p1/$everything', user)), 'fhir_operation_not_allowed');
    const withOp = engine({ operations: [{ name: 'everything', levels: ['instance'], resourceTypes: ['Patient'], permission: 'r' }] });
    assert.equal(reasonOf(decide(withOp, 'GET', '/fhir/Patient/p1/$everything', user)), 'allowed');
    assert.equal(reasonOf(decide(withOp, 'GET', `/fhir/Patient/pat-2/$everything`, patientApp('patient/*.rs'))), 'patient_compartment_violation');
    assert.equal(reasonOf(decide(withOp, 'GET', `/fhir/Patient/${P}/$everything`, patientApp('patient/*.rs'))), 'allowed');
  });
});

describe('granular scopes (SMART v2 ?param=value)', () => {
  const e = engine({ patientCompartment: { narrowSearches: true } });
  const lab = 'patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory';
  const app = patientApp(lab);
  test('a search within the restriction passes', () => {
    const cat = encodeURIComponent('http://terminology.hl7.org/CodeSystem/observation-category|laboratory');
    assert.equal(reasonOf(decide(e, 'GET', `/fhir/Observation?patient=${P}&category=${cat}`, app)), 'allowed');
  });
  test('a search for another category is denied (ONC g10: granular category scopes)', () => {
    const cat = encodeURIComponent('http://terminology.hl7.org/CodeSystem/observation-category|vital-signs');
    assert.equal(reasonOf(decide(e, 'GET', `/fhir/Observation?patient=${P}&category=${cat}`, app)), 'scope_restriction_unmet');
  });
  test('a search without the category is narrowed to it', () => {
    const d = decide(e, 'GET', `/fhir/Observation?patient=${P}`, app);
    assert.equal(reasonOf(d), 'allowed');
    assert.deepEqual(setOf(d), { category: 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory' });
  });
  test('a read under a restricted grant cannot be checked without content → denied in deny mode', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation/o1', app)), 'scope_restriction_unmet');
  });
});

describe('batch and transaction bundles', () => {
  const e = engine();
  const app = patientApp('patient/*.cruds');
  const bundle = (urls: string[]) =>
    JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: urls.map((url) => ({ request: { method: 'GET', url } })) });
  test('every entry confined to the launch patient → allow', () => {
    assert.equal(reasonOf(decide(e, 'POST', '/fhir', app, { body: bundle([`Patient/${P}`, `Observation?patient=${P}`]) })), 'allowed');
  });
  test('a smuggled entry for another patient denies the whole bundle', () => {
    const d = decide(e, 'POST', '/fhir', app, { body: bundle([`Patient/${P}`, 'Observation?patient=pat-2']) });
    assert.equal(reasonOf(d), 'patient_compartment_violation');
    assert.match(d.rule, /^bundle\.entry\[1\]/);
  });
  test('an unconfined entry cannot be narrowed inside a bundle', () => {
    const narrow = engine({ patientCompartment: { narrowSearches: true } });
    assert.equal(reasonOf(decide(narrow, 'POST', '/fhir', app, { body: bundle(['Observation?code=x']) })), 'patient_compartment_unconfined');
  });
});

describe('RBAC, client ceiling, consent, break-glass, minimization', () => {
  test('roles intersect user scopes when enforced', () => {
    const e = engine({ roles: { enforce: true, rules: [{ role: 'nurse', resourceTypes: ['Observation'], permissions: 'rs' }] } });
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation/o1', { scopes: ['user/*.cruds'], roles: ['nurse'] })), 'allowed');
    assert.equal(reasonOf(decide(e, 'DELETE', '/fhir/Observation/o1', { scopes: ['user/*.cruds'], roles: ['nurse'] })), 'role_insufficient');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Condition/c1', { scopes: ['user/*.cruds'], roles: ['nurse'] })), 'role_insufficient');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation/o1', { scopes: ['user/*.cruds'], roles: [] })), 'role_insufficient');
  });
  test('the client ceiling trims what a token grants', () => {
    const e = engine({ clients: [{ clientId: 'app-1', scopeCeiling: ['user/Observation.rs'] }] });
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation/o1', { scopes: ['user/*.cruds'], clientId: 'app-1' })), 'allowed');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Condition/c1', { scopes: ['user/*.cruds'], clientId: 'app-1' })), 'client_ceiling_exceeded');
    assert.equal(reasonOf(decide(e, 'DELETE', '/fhir/Observation/o1', { scopes: ['user/*.cruds'], clientId: 'app-1' })), 'client_ceiling_exceeded');
  });
  test('patient opt-out for a client', () => {
    const e = engine({ consent: { optOut: [{ patient: P, clients: ['research-app'] }] } });
    assert.equal(reasonOf(decide(e, 'GET', `/fhir/Observation?patient=${P}`, { scopes: ['user/*.rs'], clientId: 'research-app' })), 'consent_opt_out');
    assert.equal(reasonOf(decide(e, 'GET', `/fhir/Observation?patient=${P}`, { scopes: ['user/*.rs'], clientId: 'ehr' })), 'allowed');
  });
  test('sensitive types need a purpose of use', () => {
    const e = engine({ consent: { sensitive: [{ name: 'behavioral', resourceTypes: ['Condition'], purposeOfUse: ['TREAT', 'ETREAT'] }] } });
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Condition/c1', { scopes: ['user/*.rs'] })), 'purpose_of_use_required');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Condition/c1', { scopes: ['user/*.rs'] }, { headers: [['x-purpose-of-use', 'TREAT']] })), 'allowed');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Condition/c1', { scopes: ['user/*.rs'] }, { headers: [['x-purpose-of-use', 'HMARKT']] })), 'purpose_of_use_required');
  });
  test('break-glass: role + reason header → audited read-only allow', () => {
    const e = engine({ breakGlass: { roles: ['emergency'] } });
    const doc = { scopes: ['user/Observation.rs'], roles: ['emergency'] };
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Condition/c1', doc)), 'scope_insufficient');
    const d = decide(e, 'GET', '/fhir/Condition/c1', doc, { headers: [['x-break-glass-reason', 'unconscious patient in ED']] });
    assert.equal(reasonOf(d), 'allowed');
    assert.equal(d.kind === 'allow' && d.breakGlass, true);
    assert.equal(reasonOf(decide(e, 'DELETE', '/fhir/Condition/c1', doc, { headers: [['x-break-glass-reason', 'unconscious patient in ED']] })), 'scope_insufficient');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Condition/c1', { ...doc, roles: ['nurse'] }, { headers: [['x-break-glass-reason', 'unconscious patient in ED']] })), 'scope_insufficient');
  });
  test('break-glass never overrides guardrails', () => {
    const e = engine({ breakGlass: { roles: ['emergency'] } });
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Patient?_has:Observation:patient:code=x', { scopes: [], roles: ['emergency'] }, { headers: [['x-break-glass-reason', 'emergency access']] })), 'search_has_denied');
  });
  test('minimization forces _elements and rejects excess', () => {
    const e = engine({ minimization: [{ name: 'partner', clients: ['partner'], resourceTypes: ['Patient'], elements: ['id', 'name', 'birthDate'], excessElements: 'reject' }] });
    const partner = { scopes: ['system/Patient.rs'], clientId: 'partner' };
    assert.deepEqual(setOf(decide(e, 'GET', '/fhir/Patient?name=x', partner)), { _elements: 'id,name,birthDate' });
    assert.deepEqual(setOf(decide(e, 'GET', '/fhir/Patient?name=x&_elements=name', partner)), { _elements: 'name' });
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Patient?name=x&_elements=name,address', partner)), 'elements_not_allowed');
    assert.deepEqual(setOf(decide(e, 'GET', '/fhir/Patient?name=x', { scopes: ['system/Patient.rs'], clientId: 'other' })), {});
  });
});

describe('capabilities and unknown requests', () => {
  const e = engine();
  test('metadata is public by default; can be closed', () => {
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/metadata', {})), 'allowed');
    const closed = engine({ publicCapabilities: false });
    assert.equal(reasonOf(decide(closed, 'GET', '/fhir/metadata', { scopes: [] })), 'allowed');
  });
  test('unclassifiable requests are denied', () => {
    for (const url of ['/fhir/Foo/1', '/fhir/Patient/%2e%2e', '/fhir//Patient', '/other/Patient/1']) {
      assert.notEqual(reasonOf(decide(e, 'GET', url, { scopes: ['user/*.cruds'] })), 'allowed', url);
    }
  });
});

describe('properties', () => {
  const spec: Partial<FhirAccessPolicySpec> = { patientCompartment: { narrowSearches: true, instanceAccess: 'verify' } };
  const e = engine(spec);
  const id = fc.stringMatching(/^[A-Za-z0-9-]{1,8}$/);
  const type = fc.constantFrom('Observation', 'Condition', 'Patient', 'Encounter', 'MedicationRequest');

  test('a patient-level decision never allows a request that names another patient', () => {
    fc.assert(
      fc.property(type, id, fc.constantFrom('patient', 'subject', '_id'), fc.boolean(), (t, other, param, orList) => {
        fc.pre(other !== P);
        const value = param === '_id' ? other : `Patient/${other}`;
        const v = orList ? `Patient/${P},${value}` : value;
        const d1 = decide(e, 'GET', `/fhir/${t}?${param}=${encodeURIComponent(v)}`, patientApp('patient/*.cruds'));
        if (d1.kind === 'allow') assert.ok(!d1.patients.includes(other) && d1.patients.every((x) => x === P));
        const d2 = decide(e, 'GET', `/fhir/Patient/${other}`, patientApp('patient/*.cruds'));
        assert.equal(d2.kind, 'deny');
        const d3 = decide(e, 'GET', `/fhir/Patient/${other}/${t}`, patientApp('patient/*.cruds'));
        assert.equal(d3.kind, 'deny');
      }),
      { numRuns: 300 },
    );
  });

  test('authorize never throws and never allows without a matching grant', () => {
    fc.assert(
      fc.property(fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), fc.string({ maxLength: 60 }), fc.string({ maxLength: 60 }), fc.array(fc.string({ maxLength: 40 }), { maxLength: 4 }), (method, path, query, scopes) => {
        const d = decide(e, method, `/fhir/${path}?${query}`, { scopes, patient: P });
        if (d.kind === 'allow' && d.rule !== 'public:capabilities' && d.rule !== 'capabilities') {
          // Every allow names the token scope that granted it (bundles: every entry did).
          const granted = /^scope:(\S+)/.exec(d.rule)?.[1];
          assert.ok(d.rule.startsWith('bundle(') || (granted !== undefined && scopes.includes(granted)), d.rule);
        }
      }),
      { numRuns: 1000 },
    );
  });
});

describe('body rules', () => {
  const e = engine({ patientCompartment: { instanceAccess: 'verify' } });
  const app = patientApp('patient/*.cruds');
  const obs = (subject: string, extra: Record<string, unknown> = {}) => JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'bp' }, subject: { reference: subject }, ...extra });
  test('a patient-level create must reference the launch patient', () => {
    assert.equal(reasonOf(decide(e, 'POST', '/fhir/Observation', app, { body: obs(`Patient/${P}`) })), 'allowed');
    assert.equal(reasonOf(decide(e, 'POST', '/fhir/Observation', app, { body: obs('Patient/pat-2') })), 'patient_compartment_violation');
    assert.equal(reasonOf(decide(e, 'POST', '/fhir/Observation', app, { body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'bp' } }) })), 'patient_compartment_unconfined');
  });
  test('a second compartment field naming another patient is a violation', () => {
    const body = obs(`Patient/${P}`, { performer: [{ reference: 'Patient/pat-2' }] });
    assert.equal(reasonOf(decide(e, 'POST', '/fhir/Observation', app, { body })), 'patient_compartment_violation');
  });
  test('a transaction cannot smuggle a create for another patient', () => {
    const bundle = JSON.stringify({
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: 'urn:uuid:0c3a9c4e-6f0d-4a8b-9a43-6a3b1e0f1a01', resource: JSON.parse(obs(`Patient/${P}`)), request: { method: 'POST', url: 'Observation' } },
        { fullUrl: 'urn:uuid:0c3a9c4e-6f0d-4a8b-9a43-6a3b1e0f1a02', resource: JSON.parse(obs('Patient/pat-2')), request: { method: 'POST', url: 'Observation' } },
      ],
    });
    const d = decide(e, 'POST', '/fhir', app, { body: bundle });
    assert.equal(reasonOf(d), 'patient_compartment_violation');
    assert.match(d.rule, /^bundle\.entry\[1\]/);
  });
  test('a JSON Patch may not touch compartment fields under a patient grant', () => {
    const headers: Array<[string, string]> = [['content-type', 'application/json-patch+json']];
    const ok = JSON.stringify([{ op: 'replace', path: '/status', value: 'amended' }]);
    const bad = JSON.stringify([{ op: 'replace', path: '/subject/reference', value: 'Patient/pat-2' }]);
    assert.equal(reasonOf(decide(e, 'PATCH', '/fhir/Observation/o1', app, { body: ok, headers })), 'allowed');
    assert.equal(reasonOf(decide(e, 'PATCH', '/fhir/Observation/o1', app, { body: bad, headers })), 'body_patch_forbidden');
  });
  test('schema-invalid resources, wrong types and bodies on GET are refused', () => {
    const user = { scopes: ['user/*.cruds'] };
    assert.equal(reasonOf(decide(e, 'POST', '/fhir/Observation', user, { body: JSON.stringify({ resourceType: 'Observation', status: 'final', code: { text: 'x' }, subject: 'Patient/1' }) })), 'body_schema_invalid');
    assert.equal(reasonOf(decide(e, 'POST', '/fhir/Observation', user, { body: JSON.stringify({ resourceType: 'Condition' }) })), 'body_resource_mismatch');
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Observation/o1', user, { body: '{}' })), 'body_unexpected');
    assert.equal(reasonOf(decide(e, 'POST', '/fhir/Observation', user, { body: '{"resourceType":"Observation","resourceType":"Observation"}' })), 'body_json_invalid');
    assert.equal(reasonOf(decide(e, 'POST', '/fhir/Observation', user, { body: obs('Patient/1'), headers: [['content-type', 'text/plain']] })), 'fhir_content_type_unsupported');
  });
});

describe('policy loading', () => {
  test('a YAML alias bomb is a load error, not an exception', async () => {
    const { loadPolicyText } = await import('../../../src/policy/load.ts');
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', 'b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]', 'c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]', 'd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]', 'e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]', 'f: [*e,*e,*e,*e,*e,*e,*e,*e,*e]'].join('\n');
    const r = loadPolicyText(bomb, 'bomb.yaml');
    assert.equal(r.length, 1);
    assert.equal(r[0]?.result.ok, false);
  });
  test('the ceiling allows but the role removes → role_insufficient, not client_ceiling_exceeded', () => {
    const e = engine({ clients: [{ clientId: 'ehr', scopeCeiling: ['user/*.cruds'] }], roles: { enforce: true, rules: [{ role: 'nurse', resourceTypes: ['Observation'], permissions: 'rs' }] } });
    assert.equal(reasonOf(decide(e, 'GET', '/fhir/Condition/c1', { scopes: ['user/*.rs'], clientId: 'ehr', roles: ['nurse'] })), 'role_insufficient');
  });
});
