import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Principal } from '../../../src/core/principal.ts';
import { certificateThumbprint, checkCertificateBinding } from '../../../src/token/binding.ts';
import { request } from './helpers.ts';

const pemA = readFileSync(new URL('./fixtures/client-a.pem', import.meta.url), 'utf8');
const pemB = readFileSync(new URL('./fixtures/client-b.pem', import.meta.url), 'utf8');
const thumbA = createHash('sha256').update(new X509Certificate(pemA).raw).digest('base64url');
const principal = (certThumbprint: string | undefined): Principal => ({ tokenKind: 'jwt', issuer: 'i', subject: 's', clientId: 'c', audience: [], scopes: [], jti: '', expiresAt: 0, issuedAt: undefined, patient: undefined, encounter: undefined, fhirContext: [], fhirUser: undefined, roles: [], certThumbprint, claims: {} });

test('thumbprint is base64url SHA-256 of the DER', () => {
  assert.equal(certificateThumbprint(pemA), thumbA);
  assert.equal(thumbA.length, 43);
  assert.equal(certificateThumbprint('not a pem'), undefined);
});

test('cnf match passes', () => {
  assert.equal(checkCertificateBinding(principal(thumbA), request({ peerCertificatePem: pemA }), false), undefined);
});

test('cnf mismatch → token_binding_mismatch', () => {
  assert.equal(checkCertificateBinding(principal(thumbA), request({ peerCertificatePem: pemB }), false), 'token_binding_mismatch');
  assert.equal(checkCertificateBinding(principal(thumbA), request({ peerCertificatePem: 'garbage' }), false), 'token_binding_mismatch');
});

test('bound token without client certificate → token_binding_required', () => {
  assert.equal(checkCertificateBinding(principal(thumbA), request(), false), 'token_binding_required');
});

test('unbound token passes unless binding is required', () => {
  assert.equal(checkCertificateBinding(principal(undefined), request({ peerCertificatePem: pemA }), false), undefined);
  assert.equal(checkCertificateBinding(principal(undefined), request({ peerCertificatePem: pemA }), true), 'token_binding_required');
});
