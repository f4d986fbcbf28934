import { test } from 'node:test';
import assert from 'node:assert/strict';
import { errors } from 'jose';
import { reasonForJoseError } from '../../support/jose-errors.ts';
import { checkTimes } from '../../../src/token/jwt.ts';

const cfg = { clockSkewSeconds: 60, maxLifetimeSeconds: 3600 };

test('checkTimes: lifetime from iat, else nbf, else now', () => {
  assert.equal(checkTimes({ exp: 1000 + 3600, iat: 1000 }, 1000, cfg), undefined);
  assert.equal(checkTimes({ exp: 1000 + 3601, iat: 1000 }, 1000, cfg), 'token_lifetime_exceeded');
  assert.equal(checkTimes({ exp: 1000 + 3601, nbf: 1000 }, 1000, cfg), 'token_lifetime_exceeded');
  assert.equal(checkTimes({ exp: 1000 + 3601 }, 1000, cfg), 'token_lifetime_exceeded');
  assert.equal(checkTimes({ exp: 1000 + 3600 }, 1000, cfg), undefined);
});

test('checkTimes: iat in the future beyond skew, non-numeric times', () => {
  assert.equal(checkTimes({ exp: 2000, iat: 1061 }, 1000, cfg), 'token_not_yet_valid');
  assert.equal(checkTimes({ exp: 2000, iat: 1060 }, 1000, cfg), undefined);
  assert.equal(checkTimes({ exp: '2000' }, 1000, cfg), 'token_claims_invalid');
  assert.equal(checkTimes({ exp: Infinity }, 1000, cfg), 'token_claims_invalid');
  assert.equal(checkTimes({ exp: 2000, nbf: null }, 1000, cfg), 'token_claims_invalid');
});

test('jose errors map to stable reason codes', () => {
  assert.equal(reasonForJoseError(new errors.JWTExpired('x', {}, 'exp', 'check_failed')), 'token_expired');
  assert.equal(reasonForJoseError(new errors.JWTClaimValidationFailed('x', {}, 'nbf', 'check_failed')), 'token_not_yet_valid');
  assert.equal(reasonForJoseError(new errors.JWTClaimValidationFailed('x', {}, 'nbf', 'invalid')), 'token_claims_invalid');
  assert.equal(reasonForJoseError(new errors.JWTClaimValidationFailed('x', {}, 'aud', 'missing')), 'token_audience_mismatch');
  assert.equal(reasonForJoseError(new errors.JWTClaimValidationFailed('x', {}, 'exp', 'missing')), 'token_claims_invalid');
  assert.equal(reasonForJoseError(new errors.JWSSignatureVerificationFailed()), 'token_signature_invalid');
  assert.equal(reasonForJoseError(new errors.JOSEAlgNotAllowed()), 'token_header_rejected');
  assert.equal(reasonForJoseError(new errors.JWSInvalid()), 'token_malformed');
  assert.equal(reasonForJoseError(new Error('boom')), 'internal_error');
});
