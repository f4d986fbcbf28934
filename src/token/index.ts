/** Public surface of the token layer (the authenticate phase). */
export { Authenticator } from './authenticator.ts';
export type { AuthnResult, AuthenticatorDeps } from './authenticator.ts';
export {
  SUPPORTED_ALGORITHMS,
  TOKEN_DEFAULTS,
  TokenConfigError,
  resolveTokenConfig,
  tokenConfigSchema,
} from './config.ts';
export type {
  ClaimMapping,
  IntrospectionConfig,
  IssuerConfig,
  JwksOptions,
  JwsAlgorithm,
  ResolvedIssuerConfig,
  ResolvedTokenConfig,
  RevokedSubject,
  Revocations,
  TokenConfig,
} from './config.ts';
export type { IntrospectionOutcome, JwksFetchOutcome, JwksFetchTrigger, TokenEvents } from './events.ts';
export { extractBearer } from './bearer.ts';
export type { BearerFailure, BearerResult } from './bearer.ts';
export { certificateThumbprint, checkCertificateBinding } from './binding.ts';
export { tokenHash } from './cache.ts';
