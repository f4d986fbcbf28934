/**
 * The engine's request path keeps per-request allocation low: rule names are built once per
 * grant, patient lists are made only when a request names patients, empty lists are one shared
 * list, and a bodyless GET skips body validation. These tests pin down that none of it changes
 * an answer: the same strings, the same patients in the same order, nothing shared that a later
 * request could see.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import type { Decision } from '../../../src/core/decision.ts';
import type { Principal } from '../../../src/core/principal.ts';
import { compileBodyRules } from '../../../src/fhir/body/rules.ts';
import { isBodyless, NO_BODY, validateBody } from '../../../src/fhir/body/validate.ts';
import { classify } from '../../../src/fhir/classify.ts';
import { patientCompartmentParams, patientCompartmentTypes } from '../../../src/fhir/compartment.ts';
import { EMPTY } from '../../../src/fhir/lists.ts';
import type { PolicyEngine } from '../../../src/policy/engine.ts';
import { requestPatients } from '../../../src/policy/engine.ts';
import { confiningParams } from '../../../src/policy/patient-compartment.ts';
import { httpRequest, principal } from '../../support/fixtures.ts';
import { engine } from '../../support/policy.ts';

function decide(e: PolicyEngine, method: string, url: string, p: Principal): Decision {
  const q = url.indexOf('?');
  const req = httpRequest({ method, path: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? '' : url.slice(q + 1) });
  const m = e.route(req);
  assert.equal(m.kind, 'protected', url);
  if (m.kind !== 'protected') throw new Error('unreachable');
  return e.authorize(req, m, p);
}

describe('rule names', () => {
  const e = engine({ patientCompartment: { instanceAccess: 'verify', narrowSearches: true } });
  const p = principal({ scopes: ['patient/Observation.rs', 'patient/Patient.rs'], patient: 'pat-1' });

  test('one grant, several confinements: each decision names its own, every time', () => {
    const expected: Array<[string, string]> = [
      ['/fhir/Observation?patient=pat-1', 'scope:patient/Observation.rs (param)'],
      ['/fhir/Observation?code=x', 'scope:patient/Observation.rs (narrowed:patient)'],
      ['/fhir/Observation/o1', 'scope:patient/Observation.rs (verify)'],
      ['/fhir/Patient/pat-1', 'scope:patient/Patient.rs (id)'],
      ['/fhir/Patient/pat-1/Observation', 'scope:patient/Observation.rs (compartment)'],
    ];
    for (let round = 0; round < 3; round++) {
      for (const [url, rule] of expected) {
        const d = decide(e, 'GET', url, p);
        assert.equal(d.kind, 'allow', url);
        assert.equal(d.rule, rule, url);
      }
    }
    const denied = decide(e, 'GET', '/fhir/Observation?patient=pat-2', p);
    assert.equal(denied.kind === 'deny' && denied.rule, 'scope:patient/Observation.rs');
  });

  test('a user-level grant has no confinement word', () => {
    const d = decide(e, 'GET', '/fhir/Observation?subject=Patient/9', principal({ scopes: ['user/*.rs'] }));
    assert.equal(d.kind === 'allow' && d.rule, 'scope:user/*.rs');
  });
});

describe('shared results stay unshared in effect', () => {
  const e = engine({ patientCompartment: { instanceAccess: 'verify', narrowSearches: true }, search: { maxCount: 10 } });
  const p = principal({ scopes: ['patient/Observation.rs', 'user/Observation.rs'], patient: 'pat-1' });
  const urls = ['/fhir/Observation?patient=pat-1', '/fhir/Observation?code=x&_count=50', '/fhir/Observation/o1', '/fhir/Observation?patient=pat-2'];

  test('the same request decides the same, and the shared empty list stays empty', () => {
    for (const url of urls) {
      const first = decide(e, 'GET', url, p);
      for (let i = 0; i < 5; i++) assert.deepEqual(decide(e, 'GET', url, p), first, url);
    }
    assert.equal(EMPTY.length, 0);
    const plain = decide(e, 'GET', '/fhir/Observation?category=x&patient=pat-1', principal({ scopes: ['patient/Observation.rs'], patient: 'pat-1' }));
    assert.ok(plain.kind === 'allow');
    assert.deepEqual(plain.upstreamHeaders, []);
    assert.deepEqual(plain.obligations, []);
    assert.deepEqual(plain.query.set, []);
    assert.deepEqual(plain.patients, ['pat-1']); // the launch patient, under a patient-level grant
    const read = decide(e, 'GET', '/fhir/Observation/o1', principal({ scopes: ['patient/Observation.rs'], patient: 'pat-1' }));
    assert.deepEqual(read.kind === 'allow' && read.patients, ['pat-1']);
  });

  test('a rewrite is a list of its own', () => {
    const patientOnly = principal({ scopes: ['patient/Observation.rs'], patient: 'pat-1' });
    const a = decide(e, 'GET', '/fhir/Observation?code=x&_count=50', patientOnly);
    const b = decide(e, 'GET', '/fhir/Observation?code=y', patientOnly);
    assert.ok(a.kind === 'allow' && b.kind === 'allow');
    assert.deepEqual(a.query.set, [['patient', 'Patient/pat-1'], ['_count', '10']]);
    assert.deepEqual(b.query.set, [['patient', 'Patient/pat-1']]);
    assert.notEqual(a.query.set, b.query.set);
  });
});

describe('requestPatients', () => {
  const opts = { basePath: '/fhir', baseUrl: 'https://ehr.example.org/fhir' };
  const patientsOf = (method: string, path: string, rawQuery: string, body?: string): readonly string[] => {
    const r = classify({ method, path, rawQuery, ...(body !== undefined ? { body: new TextEncoder().encode(body), contentType: 'application/fhir+json' } : {}) }, opts);
    assert.ok(r.ok, `${path}?${rawQuery}`);
    return requestPatients(r.request, opts.baseUrl);
  };

  test('first-seen order, each patient once, ids from every form', () => {
    assert.deepEqual(patientsOf('GET', '/fhir/Observation', 'subject=Patient/2,Patient/1&patient=2&performer=Patient/3'), ['2', '1', '3']);
    assert.deepEqual(patientsOf('GET', '/fhir/Observation', `subject=${encodeURIComponent('https://ehr.example.org/fhir/Patient/7')}`), ['7']);
    assert.deepEqual(patientsOf('GET', '/fhir/Patient/5/Observation', 'patient=5'), ['5']);
    assert.deepEqual(patientsOf('GET', '/fhir/Patient', '_id=8,9'), ['8', '9']);
    assert.deepEqual(patientsOf('GET', '/fhir/Observation', 'code=x&subject.name=y&subject:Group=4'), []);
  });

  test('at most 256, the first ones', () => {
    const ids = Array.from({ length: 300 }, (_, i) => `p${i}`);
    const got = patientsOf('GET', '/fhir/Observation', `patient=${ids.slice(0, 200).join(',')}&subject=${ids.slice(150).map((id) => `Patient/${id}`).join(',')}`);
    assert.deepEqual(got, ids.slice(0, 256));
  });

  test('a bundle names the patients of its entries, in entry order', () => {
    const entry = (url: string): unknown => ({ request: { method: 'GET', url } });
    const body = JSON.stringify({ resourceType: 'Bundle', type: 'batch', entry: [entry('Patient/b'), entry('Observation?patient=a,b'), entry('Observation?code=x'), entry('Patient/c/Condition')] });
    assert.deepEqual(patientsOf('POST', '/fhir', '', body), ['b', 'a', 'c']);
  });
});

describe('bodyless requests skip body validation', () => {
  const rules = compileBodyRules({ validateSchema: false });

  test('isBodyless ⇒ validateBody answers NO_BODY; otherwise it is asked', () => {
    const methods = fc.constantFrom('GET', 'HEAD', 'DELETE', 'OPTIONS', 'POST', 'PUT', 'PATCH');
    const interactions = fc.constantFrom('read', 'search-type', 'delete', 'create', 'update', 'patch', 'operation-type', 'batch', 'capabilities') as fc.Arbitrary<'read'>;
    const bodies = fc.constantFrom(undefined, new Uint8Array(0), new TextEncoder().encode('{}'));
    fc.assert(
      fc.property(methods, interactions, bodies, fc.boolean(), (method, interaction, body, partial) => {
        const full = validateBody({ method, contentType: undefined, body, partial, resourceType: 'Observation', id: undefined, interaction }, rules);
        if (isBodyless(method, body, partial)) assert.deepEqual(full, NO_BODY);
        if (body !== undefined && body.length > 0) assert.equal(isBodyless(method, body, partial), false);
        if (partial) assert.equal(isBodyless(method, body, partial), false);
      }),
      { numRuns: 2000 },
    );
  });

  test('a GET with a body is still refused', () => {
    const e = engine();
    const req = httpRequest({ method: 'GET', path: '/fhir/Observation', rawQuery: 'code=x', body: new TextEncoder().encode('{}'), headerLines: [['content-type', 'application/json']] });
    const m = e.route(req);
    assert.ok(m.kind === 'protected');
    const d = e.authorize(req, m, principal({ scopes: ['user/Observation.rs'] }));
    assert.equal(d.kind === 'deny' && d.reason, 'body_unexpected');
  });
});

describe('confining parameters (worked out once per type at load)', () => {
  test('compartment parameters plus `patient` where it targets only Patient', () => {
    assert.deepEqual(confiningParams('Observation'), ['performer', 'subject', 'patient']);
    assert.deepEqual(confiningParams('Condition'), ['asserter', 'patient']);
    assert.deepEqual(confiningParams('Group'), ['member']);
    assert.deepEqual(confiningParams('Patient'), ['_id']);
    assert.deepEqual(confiningParams('Medication'), []);
    assert.deepEqual(confiningParams('NotAType'), []);
  });

  test('every compartment type: all of its compartment parameters, then at most `patient`', () => {
    for (const type of patientCompartmentTypes()) {
      if (type === 'Patient') continue;
      const own = patientCompartmentParams(type) ?? [];
      const params = confiningParams(type);
      assert.deepEqual(params.slice(0, own.length), own, type);
      assert.ok(params.length === own.length || (params.length === own.length + 1 && params.at(-1) === 'patient'), type);
    }
  });
});
