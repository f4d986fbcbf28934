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
