/**
 * Test support: jose error → fhirgate reason code, for the tests that hold our own claim and
 * signature checks to jose's verdicts (the token path itself no longer goes through jose).
 * jose's `code` strings are stable API; claim failures are refined by the claim jose names.
 */
import { errors } from 'jose';
import type { ReasonCode } from '../../src/core/reasons.ts';

export function reasonForJoseError(err: unknown): ReasonCode {
  if (!(err instanceof errors.JOSEError)) return 'internal_error';
  switch (err.code) {
    case 'ERR_JWT_EXPIRED':
      return (err as errors.JWTExpired).claim === 'exp' ? 'token_expired' : 'token_claims_invalid';
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const failure = err as errors.JWTClaimValidationFailed;
      if (failure.claim === 'aud') return 'token_audience_mismatch'; // absent or not ours: same fix for the client
      // 'invalid' / 'missing' mean a wrongly typed or absent claim, whatever the claim is.
      if (failure.reason === 'invalid' || failure.reason === 'missing') return 'token_claims_invalid';
      return reasonForClaim(failure.claim);
    }
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
    case 'ERR_JWK_INVALID':
    case 'ERR_JWKS_INVALID':
    case 'ERR_JWKS_NO_MATCHING_KEY':
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return 'token_signature_invalid';
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
    case 'ERR_JOSE_NOT_SUPPORTED':
      return 'token_header_rejected';
    case 'ERR_JWKS_TIMEOUT':
      return 'issuer_keys_unavailable';
    default:
      // ERR_JWS_INVALID, ERR_JWT_INVALID (payload not a claims set) and anything newer.
      return 'token_malformed';
  }
}

function reasonForClaim(claim: string): ReasonCode {
  switch (claim) {
    case 'nbf':
      return 'token_not_yet_valid';
    case 'aud':
      return 'token_audience_mismatch';
    case 'iss':
      return 'token_issuer_unknown';
    default:
      return 'token_claims_invalid';
  }
}
