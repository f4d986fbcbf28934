import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Principal } from '../../../src/core/principal.ts';
import { RevocationList } from '../../../src/token/revocation.ts';

const base: Principal = { tokenKind: 'jwt', issuer: 'https://a', subject: 'alice', clientId: 'app', audience: [], scopes: [], jti: 'j1', expiresAt: 0, issuedAt: undefined, patient: undefined, encounter: undefined, fhirContext: [], fhirUser: undefined, roles: [], certThumbprint: undefined, claims: {} };

test('revokes by jti, by issuer+subject and by client', () => {
  assert.equal(new RevocationList({ jtis: ['j1'] }).isRevoked(base), true);
  assert.equal(new RevocationList({ subjects: [{ issuer: 'https://a', subject: 'alice' }] }).isRevoked(base), true);
  assert.equal(new RevocationList({ subjects: [{ issuer: 'https://b', subject: 'alice' }] }).isRevoked(base), false);
  assert.equal(new RevocationList({ clients: ['app'] }).isRevoked(base), true);
  assert.equal(new RevocationList({ jtis: ['j2'], clients: ['other'] }).isRevoked(base), false);
});

test('empty ids never match an empty revocation entry', () => {
  const anon = { ...base, jti: '', subject: '', clientId: '' };
  assert.equal(new RevocationList({ jtis: [''], clients: [''], subjects: [{ issuer: 'https://a', subject: '' }] }).isRevoked(anon), false);
});

test('set replaces the whole list', () => {
  const list = new RevocationList({ jtis: ['j1'] });
  list.set({ clients: ['x'] });
  assert.equal(list.isRevoked(base), false);
});
