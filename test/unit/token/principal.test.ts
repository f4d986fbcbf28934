import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildPrincipal, claimAt } from '../../../src/token/principal.ts';
import { TOKEN_DEFAULTS } from '../../../src/token/config.ts';

const map = TOKEN_DEFAULTS.claims;
const ok = (claims: Record<string, unknown>) => {
  const r = buildPrincipal({ exp: 100, ...claims }, 'jwt', 'https://i', map);
  assert.ok(r.ok, JSON.stringify(claims));
  return r.principal;
};
const bad = (claims: Record<string, unknown>, mapping = map) =>
  assert.deepEqual(buildPrincipal({ exp: 100, ...claims }, 'jwt', 'https://i', mapping), { ok: false, reason: 'token_claims_invalid' }, JSON.stringify(claims));

test('maps standard and SMART claims', () => {
  const p = ok({ sub: 'u1', client_id: 'app', aud: 'fhir', scope: 'patient/*.read  openid', jti: 'j', iat: 50, patient: 'p1', encounter: 'e1', fhirUser: 'Practitioner/9', fhirContext: [{ reference: 'Location/1' }], roles: ['nurse'], cnf: { 'x5t#S256': 'A'.repeat(43) } });
  assert.equal(p.subject, 'u1');
  assert.equal(p.clientId, 'app');
  assert.deepEqual(p.audience, ['fhir']);
  assert.deepEqual(p.scopes, ['patient/*.read', 'openid']);
  assert.equal(p.patient, 'p1');
  assert.equal(p.encounter, 'e1');
  assert.equal(p.fhirUser, 'Practitioner/9');
  assert.deepEqual(p.roles, ['nurse']);
  assert.equal(p.certThumbprint, 'A'.repeat(43));
  assert.equal(p.expiresAt, 100);
  assert.equal(p.issuedAt, 50);
  assert.equal(p.tokenKind, 'jwt');
});

test('scp array and azp/cid fallbacks', () => {
  assert.deepEqual(ok({ scp: ['a', 'b'] }).scopes, ['a', 'b']);
  assert.equal(ok({ azp: 'x' }).clientId, 'x');
  assert.equal(ok({ cid: 'y' }).clientId, 'y');
  assert.equal(ok({}).clientId, '');
});

test('configurable claim paths, own properties only', () => {
  const mapping = { ...map, roles: 'realm_access.roles', patient: 'ctx.patient' };
  const r = buildPrincipal({ exp: 1, realm_access: { roles: ['admin'] }, ctx: { patient: 'p9' } }, 'jwt', 'i', mapping);
  assert.ok(r.ok);
  assert.deepEqual(r.principal.roles, ['admin']);
  assert.equal(r.principal.patient, 'p9');
  assert.equal(claimAt({}, 'constructor'), undefined);
  assert.equal(claimAt({ a: 'x' }, 'a.length'), undefined);
});

test('wrong claim types → token_claims_invalid', () => {
  bad({ scope: 5 });
  bad({ scope: ['a'] });
  bad({ scp: 'a b' });
  bad({ scp: ['a b'] });
  bad({ sub: 1 });
  bad({ client_id: {} });
  bad({ aud: [1] });
  bad({ patient: 12 });
  bad({ fhirUser: ['x'] });
  bad({ fhirContext: 'x' });
  bad({ roles: 'admin' });
  bad({ cnf: 'x' });
  bad({ cnf: { 'x5t#S256': 'short' } });
  bad({ iat: '1' });
  bad({ exp: undefined });
  bad({ scope: Array.from({ length: 300 }, (_, i) => `s${i}`).join(' ') });
});

test('principal and its claims are frozen copies', () => {
  const claims = { exp: 1, sub: 'a' };
  const p = ok(claims);
  assert.ok(Object.isFrozen(p));
  assert.ok(Object.isFrozen(p.claims));
  assert.notEqual(p.claims, claims);
});

test('absent roles and launch context are empty and cannot be added to', () => {
  const p = ok({});
  assert.deepEqual(p.roles, []);
  assert.deepEqual(p.fhirContext, []);
  assert.ok(Object.isFrozen(p.roles) && Object.isFrozen(p.fhirContext) && Object.isFrozen(p.scopes));
  assert.throws(() => (p.roles as string[]).push('admin'), TypeError);
  assert.deepEqual(ok({}).roles, []);
});

test('claim paths: a plain name and a dotted path read own properties only', () => {
  assert.equal(claimAt({ patient: 'p1' }, 'patient'), 'p1');
  assert.equal(claimAt({}, 'toString'), undefined);
  assert.equal(claimAt({ ctx: { patient: 'p2' } }, 'ctx.patient'), 'p2');
  assert.equal(claimAt({ ctx: ['p3'] }, 'ctx.0'), undefined);
  assert.equal(claimAt({ ctx: { a: { b: 1 } } }, 'ctx.a.b'), 1);
});

test('principals built from the same scope or aud text share one frozen list', () => {
  const a = ok({ scope: 'openid patient/*.rs', aud: 'fhir' });
  const b = ok({ scope: 'openid patient/*.rs', aud: 'fhir' });
  assert.equal(a.scopes, b.scopes);
  assert.equal(a.audience, b.audience);
  assert.ok(Object.isFrozen(a.scopes) && Object.isFrozen(a.audience));
  assert.throws(() => (a.scopes as string[]).push('system/*.*'), TypeError);
  const c = ok({ scope: 'openid  patient/*.rs ', aud: 'other' });
  assert.deepEqual(c.scopes, ['openid', 'patient/*.rs']);
  assert.deepEqual(c.audience, ['other']);
  assert.notEqual(c.scopes, a.scopes);
});

test('too many scopes are refused every time, not only the first', () => {
  const many = Array.from({ length: 300 }, (_, i) => `s${i}`).join(' ');
  bad({ scope: many });
  bad({ scope: many });
});

test('scope and audience lists stay right across more distinct texts than are remembered', () => {
  for (let i = 0; i < 1000; i++) {
    const scope = `a${i % 300} b${i}`;
    assert.deepEqual(ok({ scope }).scopes, [`a${i % 300}`, `b${i}`]);
    assert.deepEqual(ok({ aud: `aud-${i % 97}` }).audience, [`aud-${i % 97}`]);
  }
});
