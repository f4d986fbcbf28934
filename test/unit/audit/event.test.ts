import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ManualClock } from '../../../src/core/clock.ts';
import { NO_REWRITES, deny } from '../../../src/core/decision.ts';
import type { Allow } from '../../../src/core/decision.ts';
import type { Principal } from '../../../src/core/principal.ts';
import { MAX_AUDIT_PATIENTS, buildAuditEvent } from '../../../src/audit/event.ts';
import type { AuditContext } from '../../../src/audit/event.ts';
import { createPseudonymizer } from '../../../src/audit/pseudonym.ts';
import type { Pseudonymizer } from '../../../src/audit/pseudonym.ts';
import { httpRequest, principal } from '../../support/fixtures.ts';

const pseudonymize = createPseudonymizer(new Uint8Array(32).fill(9));
const ctx: AuditContext = { pseudonymize, clock: new ManualClock(Date.UTC(2026, 2, 4, 5, 6, 7, 89)) };
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function allow(p: Principal, extra: Partial<Allow> = {}): Allow {
  return {
    kind: 'allow',
    reason: 'allowed',
    principal: p,
    rule: 'route:read-observations',
    upstreamHeaders: [],
    query: NO_REWRITES,
    obligations: [],
    patients: [],
    breakGlass: false,
    ...extra,
  };
}

test('an allow: every field, with subject and patients pseudonymized', () => {
  const p = principal({ subject: 'user-42', patient: 'pat-7', jti: 'jti-abc' });
  const e = buildAuditEvent(
    {
      decision: allow(p, { patients: ['pat-7', 'pat-8', 'pat-7'] }),
      request: httpRequest({ method: 'GET', path: '/fhir/Observation/obs-1', rawQuery: 'patient=pat-7', requestId: 'req-9' }),
      fhir: { interaction: 'read', resourceType: 'Observation' },
      traceId: TRACE,
      purposeOfUse: 'TREAT',
    },
    ctx,
  );
  assert.deepEqual(e, {
    time: '2026-03-04T05:06:07.089Z',
    requestId: 'req-9',
    decision: 'allow',
    reason: 'allowed',
    phase: 'authorize',
    rule: 'route:read-observations',
    status: 200,
    method: 'GET',
    interaction: 'read',
    resourceType: 'Observation',
    subject: pseudonymize('subject', 'user-42'),
    issuer: 'https://issuer.example.test',
    clientId: 'app-1',
    jti: 'jti-abc',
    patients: [pseudonymize('patient', 'pat-7'), pseudonymize('patient', 'pat-8')],
    breakGlass: { used: false },
    purposeOfUse: 'TREAT',
    source: '10.1.2.3:40000',
    traceId: TRACE,
  });
});

test('a denial before authentication: reason, phase and status from the catalogue, no principal fields', () => {
  const e = buildAuditEvent({ decision: deny('credential_missing', 'authenticate'), request: httpRequest() }, ctx);
  assert.equal(e.decision, 'deny');
  assert.equal(e.reason, 'credential_missing');
  assert.equal(e.phase, 'authenticate');
  assert.equal(e.status, 401);
  assert.equal(e.rule, '');
  assert.deepEqual(e.patients, []);
  for (const k of ['subject', 'issuer', 'clientId', 'jti', 'interaction', 'resourceType', 'traceId', 'purposeOfUse'] as const) {
    assert.equal(e[k], undefined, k);
  }
});

test('a denial after authentication keeps who asked', () => {
  const e = buildAuditEvent(
    { decision: deny('scope_insufficient', 'authorize', { principal: principal(), rule: 'route:write' }), request: httpRequest({ method: 'POST' }) },
    ctx,
  );
  assert.equal(e.status, 403);
  assert.equal(e.rule, 'route:write');
  assert.equal(e.subject, pseudonymize('subject', 'user-1'));
  assert.equal(e.clientId, 'app-1');
  assert.equal(e.method, 'POST');
});

test('break-glass: flag and category, never a free-text justification', () => {
  const d = allow(principal(), { breakGlass: true });
  const withText = { ...d, breakGlassReason: 'patient unconscious, Jane Doe DOB 1970-01-01' } as Allow;
  const e = buildAuditEvent({ decision: withText, request: httpRequest(), breakGlassCategory: 'emergency' }, ctx);
  assert.deepEqual(e.breakGlass, { used: true, category: 'emergency' });
  assert.ok(!JSON.stringify(e).includes('Jane'));
  const bad = buildAuditEvent({ decision: d, request: httpRequest(), breakGlassCategory: 'Emergency: patient John Smith' }, ctx);
  assert.deepEqual(bad.breakGlass, { used: true });
  const notUsed = buildAuditEvent({ decision: allow(principal()), request: httpRequest(), breakGlassCategory: 'emergency' }, ctx);
  assert.deepEqual(notUsed.breakGlass, { used: false });
});

test('hostile free-form values are dropped, not copied', () => {
  const e = buildAuditEvent(
    {
      decision: allow(principal({ clientId: 'app 1\n{"forged":true}', issuer: '', jti: 'x'.repeat(300) }), { rule: 'rule with spaces' }),
      request: httpRequest({ method: 'GET /Patient/123 HTTP/1.1', requestId: 'id\r\nInjected: 1', sourceAddress: 'Patient/123 <script>' }),
      fhir: { interaction: 'read/Patient/123', resourceType: 'Patient/123' },
      traceId: '0'.repeat(32),
      purposeOfUse: 'TREAT patient 123',
    },
    ctx,
  );
  assert.equal(e.method, '_OTHER');
  assert.equal(e.requestId, '');
  assert.equal(e.rule, '');
  for (const k of ['clientId', 'issuer', 'jti', 'source', 'interaction', 'resourceType', 'traceId', 'purposeOfUse'] as const) {
    assert.equal(e[k], undefined, k);
  }
  assert.ok(!JSON.stringify(e).includes('123'));
});

test('patients are deduplicated and capped, with the overflow counted', () => {
  const ids = Array.from({ length: MAX_AUDIT_PATIENTS + 10 }, (_, i) => `p${i}`);
  const e = buildAuditEvent({ decision: allow(principal(), { patients: [...ids, 'p0', ''] }), request: httpRequest() }, ctx);
  assert.equal(e.patients.length, MAX_AUDIT_PATIENTS);
  assert.equal(e.patientsOmitted, 10);
});

test('a denial with a reason outside the catalogue is recorded as internal_error instead of throwing', () => {
  const bogus = { ...deny('internal_error', 'authorize'), reason: 'made_up' } as unknown as ReturnType<typeof deny>;
  const e = buildAuditEvent({ decision: bogus, request: httpRequest() }, ctx);
  assert.equal(e.reason, 'internal_error');
  assert.equal(e.status, 503);
});

// ── property: raw identifiers and tokens never reach the event ───────────────────────────────────

/** Values distinctive enough that they cannot appear by chance in the rest of the event. */
const marker = (tag: string) =>
  fc.string({ unit: fc.constantFrom(...'abcdefghijkmnpqrstuvwxyz0123456789-.'), minLength: 10, maxLength: 40 }).map((s) => `${tag}${s}`);

test('property: audit events never contain the raw patient id, subject, token, path or query', () => {
  fc.assert(
    fc.property(
      marker('PAT'),
      marker('SUB'),
      marker('TOK'),
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'),
      fc.boolean(),
      fc.array(marker('OTHERPAT'), { maxLength: 5 }),
      (patientId, subject, token, method, allowed, others) => {
        const jwt = `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ sub: subject, patient: patientId, t: token })).toString('base64url')}.sig`;
        const p = principal({ subject, patient: patientId, claims: { sub: subject, patient: patientId, raw: jwt }, fhirUser: `Patient/${patientId}` });
        const request = httpRequest({
          method,
          path: `/fhir/Patient/${patientId}/Observation`,
          rawQuery: `subject=Patient/${patientId}&access_token=${token}`,
          headerLines: [['authorization', `Bearer ${jwt}`], ['cookie', `s=${token}`]],
          body: new TextEncoder().encode(JSON.stringify({ subject: { reference: `Patient/${patientId}` } })),
        });
        const decision = allowed
          ? allow(p, { patients: [patientId, ...others] })
          : deny('scope_insufficient', 'authorize', { principal: p, rule: 'route:x' });
        const line = JSON.stringify(buildAuditEvent({ decision, request, fhir: { interaction: 'search-compartment', resourceType: 'Observation' }, traceId: TRACE }, ctx));
        for (const secret of [patientId, subject, token, jwt, ...others]) assert.ok(!line.includes(secret), `${secret} leaked: ${line}`);
        assert.ok(!line.includes('/fhir/'));
        assert.ok(!line.includes('access_token'));
        if (allowed) assert.ok(line.includes(pseudonymize('patient', patientId)));
        assert.ok(line.includes(pseudonymize('subject', subject)));
      },
    ),
    { numRuns: 300 },
  );
});

test('who-fields of a frozen principal are worked out once; a mutable principal is read afresh; another key gives other pseudonyms', () => {
  const frozen = Object.freeze({ ...principal({ clientId: 'app-1' }), subject: 'alice' }) as Principal;
  const calls: string[] = [];
  const counting: Pseudonymizer = (kind, value) => (calls.push(`${kind}:${value}`), pseudonymize(kind, value));
  const countingCtx: AuditContext = { ...ctx, pseudonymize: counting };
  const first = buildAuditEvent({ decision: allow(frozen), request: httpRequest() }, countingCtx);
  const again = buildAuditEvent({ decision: allow(frozen), request: httpRequest() }, countingCtx);
  assert.equal(again.subject, first.subject);
  assert.equal(first.subject, pseudonymize('subject', 'alice'));
  assert.deepEqual(calls.filter((c) => c.startsWith('subject:')), ['subject:alice'], 'the subject is pseudonymized once per frozen principal');
  assert.equal(again.clientId, 'app-1');
  const other = buildAuditEvent({ decision: allow(frozen), request: httpRequest() }, { ...ctx, pseudonymize: createPseudonymizer(new Uint8Array(32).fill(1)) });
  assert.notEqual(other.subject, first.subject, 'the memo is per pseudonymizer');

  const mutable = { ...principal({ clientId: 'app-2' }), subject: 'bob' } as { -readonly [K in keyof Principal]: Principal[K] };
  const before = buildAuditEvent({ decision: allow(mutable), request: httpRequest() }, ctx);
  mutable.clientId = 'app-3';
  mutable.subject = 'carol';
  const after = buildAuditEvent({ decision: allow(mutable), request: httpRequest() }, ctx);
  assert.equal(after.clientId, 'app-3');
  assert.notEqual(after.subject, before.subject);
});
