/**
 * Who is calling: the result of the authenticate phase, from a verified JWT or an introspection
 * reply. Never contains the raw token.
 */
export interface Principal {
  readonly tokenKind: 'jwt' | 'opaque';
  readonly issuer: string;
  readonly subject: string;
  /** OAuth client id (`client_id`, `azp` or `cid`), '' when the token names none. */
  readonly clientId: string;
  readonly audience: readonly string[];
  /** Space-separated scopes split into tokens, as granted (not yet parsed as SMART scopes). */
  readonly scopes: readonly string[];
  /** `jti`, '' when absent. */
  readonly jti: string;
  /** Expiry, seconds since the epoch. */
  readonly expiresAt: number;
  /** Issued-at, seconds since the epoch, or undefined. */
  readonly issuedAt: number | undefined;
  /** SMART launch context. */
  readonly patient: string | undefined;
  readonly encounter: string | undefined;
  readonly fhirContext: readonly unknown[];
  /** `fhirUser` claim (e.g. "Practitioner/123"), undefined when absent. */
  readonly fhirUser: string | undefined;
  /** Roles from the issuer's configured roles claim. */
  readonly roles: readonly string[];
  /** RFC 8705 certificate thumbprint (`cnf.x5t#S256`), base64url, when the token is bound. */
  readonly certThumbprint: string | undefined;
  /** The remaining verified claims, for claim mappings. Never logged. */
  readonly claims: Readonly<Record<string, unknown>>;
}
