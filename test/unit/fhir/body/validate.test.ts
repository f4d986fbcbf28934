import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileBodyRules } from '../../../../src/fhir/body/rules.ts';
import { validateBody } from '../../../../src/fhir/body/validate.ts';
import type { BodyInput, BodyResult } from '../../../../src/fhir/body/validate.ts';
import { isReasonCode } from '../../../../src/core/reasons.ts';

// Compiled once for the whole file (the FHIR schema takes seconds to compile).
const rules = compileBodyRules();
const small = compileBodyRules({ maxBytes: 4096, maxDepth: 8, maxArrayLength: 4, maxStringLength: 64, validateSchema: false });
const enc = new TextEncoder();

const OBSERVATION = {
  resourceType: 'Observation',
  id: 'bp-1',
  status: 'final',
  category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
  code: { coding: [{ system: 'http://loinc.org', code: '29463-7', display: 'Body weight' }] },
  subject: { reference: 'Patient/example' },
  effectiveDateTime: '2024-03-01T09:30:00Z',
  valueQuantity: { value: 72.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
};
const PATIENT = {
  resourceType: 'Patient',
  id: 'example',
  active: true,
  name: [{ use: 'official', family: 'Lindqvist', given: ['Astrid'] }],
  gender: 'female',
  birthDate: '1984-07-12',
  _birthDate: { extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-birthTime', valueDateTime: '1984-07-12T06:15:00+01:00' }] },
  contained: [{ resourceType: 'Organization', id: 'org', name: 'Clinic' }],
  managingOrganization: { reference: '#org' },
};

function input(over: Partial<BodyInput> & { json?: unknown; text?: string }): BodyInput {
  const { json, text, ...rest } = over;
  const body = rest.body ?? (text !== undefined ? enc.encode(text) : json !== undefined ? enc.encode(JSON.stringify(json)) : undefined);
  return {
    method: 'PUT',
    contentType: 'application/fhir+json',
    partial: false,
    resourceType: 'Observation',
    id: 'bp-1',
    interaction: 'update',
    ...rest,
    body,
  };
}

function reasonOf(r: BodyResult): string {
  return r.ok ? 'ok' : r.reason;
}

test('valid Observation and Patient bodies pass schema validation and are returned', () => {
  const obs = validateBody(input({ json: OBSERVATION }), rules);
  assert.ok(obs.ok, JSON.stringify(obs));
  assert.equal(obs.format, 'json');
  assert.equal(obs.resource?.['resourceType'], 'Observation');
  assert.deepEqual({ ...(obs.resource?.['subject'] as object) }, { reference: 'Patient/example' });
  const pat = validateBody(input({ json: PATIENT, resourceType: 'Patient', id: 'example' }), rules);
  assert.ok(pat.ok, JSON.stringify(pat));
  const created = validateBody(input({ method: 'POST', interaction: 'create', id: undefined, json: { ...OBSERVATION, id: undefined } }), rules);
  assert.ok(created.ok, JSON.stringify(created));
});

test('schema failures: unknown elements, wrong types, bad codes and patterns, non-R4 contained types', () => {
  const cases: Array<[string, unknown]> = [
    ['unknown element at the root', { ...OBSERVATION, colour: 'red' }],
    ['unknown element deep inside', { ...OBSERVATION, code: { coding: [{ code: 'x', sistem: 'y' }] } }],
    ['wrong type: status is a number', { ...OBSERVATION, status: 3 }],
    ['wrong type: subject is a string', { ...OBSERVATION, subject: 'Patient/example' }],
    ['wrong type: value is a string', { ...OBSERVATION, valueQuantity: { value: '72.5' } }],
    ['wrong type: code is a number', { ...OBSERVATION, code: 5 }],
    ['wrong type: category is not an array', { ...OBSERVATION, category: { text: 'x' } }],
    ['wrong type: contained is an object', { ...OBSERVATION, contained: { resourceType: 'Patient' } }],
    ['code not in the value set', { ...OBSERVATION, status: 'done' }],
    ['dateTime pattern', { ...OBSERVATION, effectiveDateTime: '2024-13-01' }],
    ['required element missing', { resourceType: 'Observation', id: 'bp-1', status: 'final' }],
    ['contained Medplum type', { ...OBSERVATION, contained: [{ resourceType: 'Project', name: 'x' }] }],
    ['contained without resourceType', { ...OBSERVATION, contained: [{ id: 'x' }] }],
  ];
  for (const [name, body] of cases) {
    const r = validateBody(input({ json: body }), rules);
    assert.equal(reasonOf(r), 'body_schema_invalid', name);
  }
  const deep = validateBody(input({ json: { ...OBSERVATION, code: { coding: [{ code: 'x', sistem: 'y' }] } } }), rules);
  assert.ok(!deep.ok);
  assert.equal(deep.detail, 'unknown element in /code/coding/0');
});

test('detail never echoes body values', () => {
  const secret = 'Lindqvist-SECRET-4711';
  const bodies: unknown[] = [
    { ...OBSERVATION, [secret]: 1 },
    { ...OBSERVATION, status: secret },
    { ...OBSERVATION, id: secret },
    { ...OBSERVATION, resourceType: secret },
    { ...OBSERVATION, effectiveDateTime: secret },
  ];
  for (const b of bodies) {
    const r = validateBody(input({ json: b }), rules);
    assert.ok(!r.ok);
    assert.ok(!r.detail.includes(secret), r.detail);
  }
});

test('resourceType and id must agree with the URL (FHIR R4 create/update rules)', () => {
  const cases: Array<[string, BodyInput, string]> = [
    ['update with other type', input({ json: { ...PATIENT, id: 'bp-1' } }), 'body_resource_mismatch'],
    ['update with other id', input({ json: { ...OBSERVATION, id: 'bp-2' } }), 'body_resource_mismatch'],
    ['update without id', input({ json: { ...OBSERVATION, id: undefined } }), 'body_resource_mismatch'],
    ['update with numeric id', input({ json: { ...OBSERVATION, id: 1 } }), 'body_resource_mismatch'],
    ['conditional update, any id', input({ id: undefined, json: { ...OBSERVATION, id: 'server-decides' } }), 'ok'],
    ['create with other type', input({ method: 'POST', interaction: 'create', id: undefined, json: PATIENT }), 'body_resource_mismatch'],
    ['create with an id (ignored by the server)', input({ method: 'POST', interaction: 'create', id: undefined, json: OBSERVATION }), 'ok'],
    ['no resourceType', input({ json: { ...OBSERVATION, resourceType: undefined } }), 'body_schema_invalid'],
    ['lower-case resourceType', input({ json: { ...OBSERVATION, resourceType: 'observation' } }), 'body_schema_invalid'],
    ['Medplum resourceType', input({ json: { ...OBSERVATION, resourceType: 'Project' } }), 'body_schema_invalid'],
    ['array body', input({ json: [OBSERVATION] }), 'body_schema_invalid'],
    ['null body', input({ text: 'null' }), 'body_schema_invalid'],
    ['transaction with a Bundle', input({ method: 'POST', interaction: 'transaction', resourceType: undefined, id: undefined, json: { resourceType: 'Bundle', type: 'transaction', entry: [{ resource: OBSERVATION, request: { method: 'PUT', url: 'Observation/bp-1' } }] } }), 'ok'],
    ['transaction with a non-Bundle', input({ method: 'POST', interaction: 'transaction', resourceType: undefined, id: undefined, json: OBSERVATION }), 'body_resource_mismatch'],
    ['transaction entry with an unknown element', input({ method: 'POST', interaction: 'batch', resourceType: undefined, id: undefined, json: { resourceType: 'Bundle', type: 'batch', entry: [{ resource: { ...OBSERVATION, x: 1 } }] } }), 'body_schema_invalid'],
    ['operation with Parameters', input({ method: 'POST', interaction: 'operation-type', id: undefined, json: { resourceType: 'Parameters', parameter: [{ name: 'x', valueString: 'y' }] } }), 'ok'],
  ];
  for (const [name, inp, want] of cases) assert.equal(reasonOf(validateBody(inp, rules)), want, name);
  const strictCreate = compileBodyRules({ createId: 'reject' });
  assert.equal(reasonOf(validateBody(input({ method: 'POST', interaction: 'create', id: undefined, json: OBSERVATION }), strictCreate)), 'body_resource_mismatch');
});

test('content types: allowlist, charset, XML only when allowed, forms for _search', () => {
  const xmlRules = compileBodyRules({ allowXml: true, validateSchema: false });
  const xml = '<Observation xmlns="http://hl7.org/fhir"><status value="final"/></Observation>';
  const cases: Array<[string, BodyInput, string]> = [
    ['application/json', input({ contentType: 'application/json; charset=utf-8', json: OBSERVATION }), 'ok'],
    ['missing', input({ contentType: undefined, json: OBSERVATION }), 'fhir_content_type_unsupported'],
    ['text/plain', input({ contentType: 'text/plain', json: OBSERVATION }), 'fhir_content_type_unsupported'],
    ['latin-1', input({ contentType: 'application/fhir+json; charset=iso-8859-1', json: OBSERVATION }), 'fhir_content_type_unsupported'],
    ['xml not allowed', input({ contentType: 'application/fhir+xml', text: xml }), 'fhir_content_type_unsupported'],
    ['json-patch on PUT', input({ contentType: 'application/json-patch+json', json: OBSERVATION }), 'fhir_content_type_unsupported'],
    ['fhirpath patch', input({ method: 'PATCH', interaction: 'patch', json: { resourceType: 'Parameters' } }), 'fhir_content_type_unsupported'],
    ['form on create', input({ method: 'POST', interaction: 'create', id: undefined, contentType: 'application/x-www-form-urlencoded', text: 'a=b' }), 'fhir_content_type_unsupported'],
    ['_search form', input({ method: 'POST', interaction: 'search-type', id: undefined, contentType: 'application/x-www-form-urlencoded', text: 'code=1' }), 'ok'],
    ['_search json', input({ method: 'POST', interaction: 'search-type', id: undefined, json: {} }), 'fhir_content_type_unsupported'],
  ];
  for (const [name, inp, want] of cases) assert.equal(reasonOf(validateBody(inp, rules)), want, name);
  const x = validateBody(input({ contentType: 'application/fhir+xml; charset=utf-8', text: xml }), xmlRules);
  assert.deepEqual(x, { ok: true, format: 'xml', resource: undefined, patch: undefined });
  assert.equal(reasonOf(validateBody(input({ contentType: 'application/fhir+xml', body: new Uint8Array([0x3c, 0xff]) }), xmlRules)), 'body_encoding_invalid');
  assert.equal(reasonOf(validateBody(input({ contentType: 'application/fhir+xml', text: 'x'.repeat(5000) }), compileBodyRules({ allowXml: true, validateSchema: false, maxBytes: 4096 }))), 'request_body_too_large');
  assert.equal(reasonOf(validateBody(input({ method: 'POST', interaction: 'transaction', resourceType: undefined, id: undefined, contentType: 'application/fhir+xml', text: xml }), xmlRules)), 'fhir_content_type_unsupported');
});

test('bodies only where the interaction takes one', () => {
  const cases: Array<[string, BodyInput, string]> = [
    ['GET read with body', input({ method: 'GET', interaction: 'read', json: {} }), 'body_unexpected'],
    ['DELETE with body', input({ method: 'DELETE', interaction: 'delete', json: {} }), 'body_unexpected'],
    ['GET search with partial body', input({ method: 'GET', interaction: 'search-type', partial: true, body: new Uint8Array(0) }), 'body_unexpected'],
    ['GET read, no body', input({ method: 'GET', interaction: 'read' }), 'ok'],
    ['GET read, empty body', input({ method: 'GET', interaction: 'read', body: new Uint8Array(0) }), 'ok'],
    ['update without body', input({}), 'body_missing'],
    ['create with empty body', input({ method: 'POST', interaction: 'create', body: new Uint8Array(0) }), 'body_missing'],
    ['patch without body', input({ method: 'PATCH', interaction: 'patch' }), 'body_missing'],
    ['POST operation without body', input({ method: 'POST', interaction: 'operation-instance' }), 'ok'],
    ['truncated body', input({ partial: true, json: OBSERVATION }), 'request_body_too_large'],
  ];
  for (const [name, inp, want] of cases) assert.equal(reasonOf(validateBody(inp, rules)), want, name);
});

test('encoding, JSON syntax, duplicate keys and caps', () => {
  const bom = new Uint8Array([0xef, 0xbb, 0xbf, ...enc.encode(JSON.stringify(OBSERVATION))]);
  const cases: Array<[string, BodyInput, string]> = [
    ['byte order mark', input({ body: bom }), 'body_encoding_invalid'],
    ['invalid UTF-8', input({ body: new Uint8Array([0x7b, 0x22, 0xc3, 0x28, 0x22, 0x3a, 0x31, 0x7d]) }), 'body_encoding_invalid'],
    ['overlong UTF-8', input({ body: new Uint8Array([0x7b, 0x22, 0xc0, 0xaf, 0x22, 0x3a, 0x31, 0x7d]) }), 'body_encoding_invalid'],
    ['lone surrogate escape', input({ text: '{"resourceType":"Observation","id":"bp-1","note":[{"text":"\\ud800"}]}' }), 'body_encoding_invalid'],
    ['syntax', input({ text: '{"resourceType":"Observation",}' }), 'body_json_invalid'],
    ['trailing data', input({ text: '{} {}' }), 'body_json_invalid'],
    ['duplicate key', input({ text: '{"resourceType":"Observation","id":"bp-1","id":"bp-2"}' }), 'body_json_invalid'],
    ['nested duplicate key', input({ text: '{"resourceType":"Observation","subject":{"reference":"Patient/a","reference":"Patient/b"}}' }), 'body_json_invalid'],
    ['too many bytes', input({ text: JSON.stringify({ ...OBSERVATION, note: [{ text: 'x'.repeat(5000) }] }) }), 'request_body_too_large'],
    ['too deep', input({ text: '['.repeat(9) + ']'.repeat(9) }), 'request_body_too_large'],
    ['array too long', input({ json: { ...OBSERVATION, note: [{}, {}, {}, {}, {}] } }), 'request_body_too_large'],
    ['string too long', input({ json: { ...OBSERVATION, id: 'x'.repeat(65) } }), 'request_body_too_large'],
  ];
  for (const [name, inp, want] of cases) assert.equal(reasonOf(validateBody(inp, small)), want, name);
  const capped = validateBody(input({ json: { ...OBSERVATION, note: [{}, {}, {}, {}, {}] } }), small);
  assert.ok(!capped.ok);
  assert.equal(capped.detail, 'array at /note exceeds maxArrayLength');
});

test('100,000 nested brackets are refused by the depth cap, not by a stack overflow', () => {
  for (const text of ['['.repeat(100_000), '{"a":'.repeat(100_000), '['.repeat(100_000) + ']'.repeat(100_000)]) {
    const r = validateBody(input({ text }), compileBodyRules({ validateSchema: false }));
    assert.ok(!r.ok);
    assert.equal(r.reason, 'request_body_too_large');
    assert.equal(r.detail, 'JSON nesting exceeds maxDepth');
  }
});

test('JSON Patch bodies on PATCH', () => {
  const patch = (ops: unknown, ct = 'application/json-patch+json'): BodyInput =>
    input({ method: 'PATCH', interaction: 'patch', contentType: ct, json: ops });
  const ok = validateBody(patch([{ op: 'replace', path: '/status', value: 'amended' }]), rules);
  assert.deepEqual(ok, { ok: true, format: 'json-patch', resource: undefined, patch: [{ op: 'replace', path: '/status', value: 'amended' }] });
  assert.equal(reasonOf(validateBody(patch({ op: 'replace', path: '/status', value: 'x' }), rules)), 'body_patch_invalid');
  assert.equal(reasonOf(validateBody(patch([{ op: 'replace', path: '/id', value: 'x' }]), rules)), 'body_patch_forbidden');
  assert.equal(reasonOf(validateBody(patch([{ op: 'add', path: '/meta/security/-', value: {} }]), rules)), 'body_patch_forbidden');
  assert.equal(reasonOf(validateBody(patch([{ op: 'replace', path: '/resourceType', value: 'Patient' }]), rules)), 'body_patch_forbidden');
  assert.equal(reasonOf(validateBody(input({ method: 'PATCH', interaction: 'patch', contentType: 'application/json-patch+json', text: '[{"op":"add","op":"remove","path":"/a"}]' }), rules)), 'body_json_invalid');
});

test('property: arbitrary bytes never throw and never yield a non-object resource', () => {
  const interactions = ['create', 'update', 'patch', 'transaction', 'operation-type', 'read', 'search-type'] as const;
  const cts = ['application/fhir+json', 'application/json-patch+json', 'application/x-www-form-urlencoded', 'application/json; charset=utf-8'];
  const jsonish = fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.json({ maxDepth: 6 }).map((s) => enc.encode(s)),
    fc.string({ unit: 'binary', maxLength: 200 }).map((s) => enc.encode(`{"resourceType":"Observation","id":"bp-1",${s}`)),
  );
  fc.assert(
    fc.property(jsonish, fc.constantFrom(...interactions), fc.constantFrom(...cts), fc.boolean(), (body, interaction, contentType, partial) => {
      const method = interaction === 'read' ? 'GET' : interaction === 'patch' ? 'PATCH' : interaction === 'update' ? 'PUT' : 'POST';
      const r = validateBody(input({ method, interaction, contentType, body, partial }), rules);
      if (r.ok) {
        if (r.resource !== undefined) {
          assert.equal(typeof r.resource, 'object');
          assert.ok(r.resource !== null && !Array.isArray(r.resource));
        }
      } else {
        assert.ok(isReasonCode(r.reason));
        assert.notEqual(r.reason, 'internal_error');
      }
    }),
    { numRuns: 1500 },
  );
});
