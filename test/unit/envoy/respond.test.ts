import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deny, NO_REWRITES } from '../../../src/core/decision.ts';
import type { Allow } from '../../../src/core/decision.ts';
import { REASONS } from '../../../src/core/reasons.ts';
import type { ReasonCode } from '../../../src/core/reasons.ts';
import { REASON_SYSTEM, toCheckResponse } from '../../../src/envoy/respond.ts';
import { principal } from '../../support/fixtures.ts';

const header = (hs: Array<{ header: { key: string; value: string } }>, k: string): string | undefined =>
  hs.find((h) => h.header.key === k)?.header.value;

test('allow → OK with rewrites, owned headers stripped, dynamic metadata', () => {
  const allow: Allow = {
    kind: 'allow',
    reason: 'allowed',
    principal: principal({ clientId: 'app-7' }),
    rule: 'route:read',
    upstreamHeaders: [['x-fhirgate-patient', 'p1']],
    query: { set: [['_count', '50']], remove: ['_include'] },
    obligations: [],
    patients: [],
    breakGlass: false,
  };
  const res = toCheckResponse(allow, 'rid', ['accept', 'x-fhirgate-client-id', 'x-fhirgate-evil']);
  assert.equal(res.status.code, 0);
  assert.ok(res.ok_response);
  assert.deepEqual(res.ok_response.headers_to_remove, ['x-fhirgate-client-id', 'x-fhirgate-evil']);
  assert.equal(header(res.ok_response.headers, 'x-fhirgate-client-id'), 'app-7');
  assert.deepEqual(res.ok_response.query_parameters_to_set, [{ key: '_count', value: '50' }]);
  assert.deepEqual(res.ok_response.query_parameters_to_remove, ['_include']);
  assert.deepEqual(res.dynamic_metadata?.fields['client_id'], { stringValue: 'app-7' });
});

test('public allow carries no client header', () => {
  const res = toCheckResponse(
    { kind: 'allow', reason: 'allowed', principal: undefined, rule: 'public:/metadata', upstreamHeaders: [], query: NO_REWRITES, obligations: [], patients: [], breakGlass: false },
    'rid',
  );
  assert.equal(header(res.ok_response!.headers, 'x-fhirgate-client-id'), undefined);
});

test('missing credential → 401 with a bare Bearer challenge (RFC 6750 §3)', () => {
  const res = toCheckResponse(deny('credential_missing', 'authenticate'), 'rid');
  assert.equal(res.status.code, 16);
  assert.equal(res.denied_response?.status.code, 'Unauthorized');
  assert.equal(header(res.denied_response!.headers, 'www-authenticate'), 'Bearer realm="fhirgate"');
});

test('invalid token → error="invalid_token" with the catalogue text', () => {
  const res = toCheckResponse(deny('token_expired', 'authenticate'), 'rid');
  const h = header(res.denied_response!.headers, 'www-authenticate')!;
  assert.match(h, /^Bearer realm="fhirgate", error="invalid_token", error_description="The access token has expired\."$/);
});

test('insufficient scope → 403 with scope=', () => {
  const res = toCheckResponse(deny('scope_insufficient', 'authorize', { requiredScope: 'patient/Observation.rs' }), 'rid');
  assert.equal(res.denied_response?.status.code, 'Forbidden');
  assert.equal(res.status.code, 7);
  assert.match(header(res.denied_response!.headers, 'www-authenticate')!, /error="insufficient_scope", .*scope="patient\/Observation\.rs"/);
});

test('503 denials carry Retry-After', () => {
  const res = toCheckResponse(deny('issuer_keys_unavailable', 'authenticate'), 'rid');
  assert.equal(res.denied_response?.status.code, 'ServiceUnavailable');
  assert.equal(header(res.denied_response!.headers, 'retry-after'), '5');
});

test('every reason code maps to a status Envoy knows and a well-formed OperationOutcome', () => {
  for (const code of Object.keys(REASONS) as ReasonCode[]) {
    const res = toCheckResponse(deny(code, 'authorize'), 'rid-9');
    assert.ok(res.denied_response, code);
    const expected: Record<number, string> = { 400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 413: 'PayloadTooLarge', 429: 'TooManyRequests', 503: 'ServiceUnavailable' };
    assert.equal(res.denied_response.status.code, expected[REASONS[code].status] ?? res.denied_response.status.code, code);
    assert.equal(res.status.code, REASONS[code].status === 401 ? 16 : 7, code);
    const body = JSON.parse(res.denied_response.body) as {
      resourceType: string;
      issue: Array<{ severity: string; code: string; details: { coding: Array<{ system: string; code: string }> }; diagnostics: string }>;
    };
    assert.equal(body.resourceType, 'OperationOutcome');
    assert.equal(body.issue[0]?.severity, 'error');
    assert.equal(body.issue[0]?.details.coding[0]?.system, REASON_SYSTEM);
    assert.equal(body.issue[0]?.details.coding[0]?.code, code);
    assert.equal(body.issue[0]?.diagnostics, 'request-id: rid-9');
    assert.equal(header(res.denied_response.headers, 'content-type'), 'application/fhir+json');
    assert.equal(header(res.denied_response.headers, 'x-fhirgate-reason'), code);
  }
});

test('query rewrites are percent-encoded (Envoy inserts them verbatim)', () => {
  const res = toCheckResponse(
    { kind: 'allow', reason: 'allowed', principal: principal(), rule: 'r', upstreamHeaders: [], query: { set: [['patient', 'Patient/p 1'], ['_elements', 'id,name']], remove: ['a b'] }, obligations: [], patients: [], breakGlass: false },
    'rid',
  );
  assert.deepEqual(res.ok_response?.query_parameters_to_set, [
    { key: 'patient', value: 'Patient%2Fp%201' },
    { key: '_elements', value: 'id%2Cname' },
  ]);
  assert.deepEqual(res.ok_response?.query_parameters_to_remove, ['a%20b']);
});

test('token-derived header values cannot inject header lines', () => {
  const res = toCheckResponse(
    { kind: 'allow', reason: 'allowed', principal: principal({ clientId: 'evil\r\nx-admin: 1' }), rule: 'r', upstreamHeaders: [], query: NO_REWRITES, obligations: [], patients: [], breakGlass: false },
    'rid',
  );
  const v = header(res.ok_response!.headers, 'x-fhirgate-client-id')!;
  assert.doesNotMatch(v, /[\r\n]/);
});
