/**
 * Configuration of the token layer: the TypeScript shapes, their defaults, and the JSON Schema
 * (draft 2020-12, ajv 8) that the sidecar embeds under the `auth` key of its config file.
 *
 * Two shapes exist on purpose: `TokenConfig` is what an operator writes (most fields optional),
 * `ResolvedTokenConfig` is what the code reads (every default filled in, validated once). The
 * schema is the single place where bounds live, so the same limits hold for a config file, a
 * CRD-fed update and a unit test.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';

/** Asymmetric JWS algorithms an issuer may allow. HMAC and `none` are not representable. */
export const SUPPORTED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
  'Ed25519',
] as const;
export type JwsAlgorithm = (typeof SUPPORTED_ALGORITHMS)[number];

export interface JwksOptions {
  /** Background refresh period; keys are re-fetched before they are this old. */
  readonly refreshSeconds?: number;
  /** How long the last good key set is used after the last successful fetch (outage bound). */
  readonly maxStaleSeconds?: number;
  /** Timeout of one discovery or JWKS fetch. */
  readonly timeoutMs?: number;
  /** At most one request-triggered refetch (unknown `kid`, stale keys) per this many seconds. */
  readonly unknownKidCooldownSeconds?: number;
  /** Cap on a discovery document or JWKS response body. */
  readonly maxBytes?: number;
}

export interface IntrospectionConfig {
  /** RFC 7662 endpoint (HTTPS; http only on loopback with allowInsecureLoopback). */
  readonly endpoint: string;
  readonly clientId: string;
  /** File holding the client secret (a mounted Secret); re-read when it changes. */
  readonly clientSecretFile: string;
  readonly timeoutMs?: number;
  /** Upper bound on caching an introspection answer, even when `exp` is later. */
  readonly maxCacheSeconds?: number;
}

export interface ClaimMapping {
  /** Claim (dot path) holding the SMART launch patient id. */
  readonly patient?: string;
  /** Claim (dot path) holding the fhirUser reference. */
  readonly fhirUser?: string;
  /** Claim (dot path) holding an array of role names, e.g. `realm_access.roles`. */
  readonly roles?: string;
  /** Claim (dot path) holding the SMART launch encounter id. */
  readonly encounter?: string;
}

export interface IssuerConfig {
  /** Exact `iss` value; compared as a plain string, no normalisation. */
  readonly issuer: string;
  /** Accepted `aud` values; a token must name at least one. */
  readonly audiences: readonly string[];
  /** Allowed JWS algorithms for this issuer. */
  readonly algorithms?: readonly JwsAlgorithm[];
  /** Explicit JWKS location; when absent, discovery is used (unless the issuer is introspection-only). */
  readonly jwksUri?: string;
  /** Use OIDC / SMART discovery to find the JWKS. Default: true when neither jwksUri nor introspection is set. */
  readonly discovery?: boolean;
  /** Permit http:// URLs on loopback hosts (development and tests only). */
  readonly allowInsecureLoopback?: boolean;
  readonly clockSkewSeconds?: number;
  readonly maxLifetimeSeconds?: number;
  /** When set, the JWS `typ` header must be present and one of these (case-insensitive). */
  readonly allowedTyp?: readonly string[];
  readonly jwks?: JwksOptions;
  readonly introspection?: IntrospectionConfig;
  readonly claims?: ClaimMapping;
  /** Every token of this issuer must be certificate-bound (RFC 8705). */
  readonly requireCertificateBinding?: boolean;
  /** Client ids whose tokens must be certificate-bound even when the issuer does not require it. */
  readonly certificateBoundClients?: readonly string[];
}

export interface RevokedSubject {
  readonly issuer: string;
  readonly subject: string;
}

/** Revocations by token id, by subject (per issuer) and by client id. */
export interface Revocations {
  readonly jtis?: readonly string[];
  readonly subjects?: readonly RevokedSubject[];
  readonly clients?: readonly string[];
}

export interface TokenConfig {
  /** Largest accepted token, checked before any parsing. */
  readonly maxTokenBytes?: number;
  readonly cache?: { readonly maxEntries?: number; readonly maxSeconds?: number };
  readonly issuers: readonly IssuerConfig[];
  readonly revocations?: Revocations;
}

// ── resolved shapes (every default applied) ───────────────────────────────────────────────────

export type ResolvedJwksOptions = Required<JwksOptions>;
export type ResolvedIntrospectionConfig = Required<IntrospectionConfig>;
export type ResolvedClaimMapping = Required<ClaimMapping>;

export interface ResolvedIssuerConfig {
  readonly issuer: string;
  readonly audiences: readonly string[];
  readonly algorithms: readonly JwsAlgorithm[];
  readonly jwksUri: string | undefined;
  readonly discovery: boolean;
  readonly allowInsecureLoopback: boolean;
  readonly clockSkewSeconds: number;
  readonly maxLifetimeSeconds: number;
  readonly allowedTyp: readonly string[] | undefined;
  readonly jwks: ResolvedJwksOptions;
  readonly introspection: ResolvedIntrospectionConfig | undefined;
  readonly claims: ResolvedClaimMapping;
  readonly requireCertificateBinding: boolean;
  readonly certificateBoundClients: readonly string[];
}

export interface ResolvedRevocations {
  readonly jtis: readonly string[];
  readonly subjects: readonly RevokedSubject[];
  readonly clients: readonly string[];
}

export interface ResolvedTokenConfig {
  readonly maxTokenBytes: number;
  readonly cache: { readonly maxEntries: number; readonly maxSeconds: number };
  readonly issuers: readonly ResolvedIssuerConfig[];
  readonly revocations: ResolvedRevocations;
}

export const TOKEN_DEFAULTS = {
  maxTokenBytes: 8192,
  cache: { maxEntries: 10_000, maxSeconds: 300 },
  algorithms: ['RS256', 'ES256', 'PS256', 'EdDSA'] as readonly JwsAlgorithm[],
  clockSkewSeconds: 60,
  maxLifetimeSeconds: 3600,
  jwks: {
    refreshSeconds: 300,
    maxStaleSeconds: 3600,
    timeoutMs: 2000,
    unknownKidCooldownSeconds: 30,
    maxBytes: 256 * 1024,
  } satisfies ResolvedJwksOptions,
  introspection: { timeoutMs: 1500, maxCacheSeconds: 60 },
  claims: { patient: 'patient', fhirUser: 'fhirUser', roles: 'roles', encounter: 'encounter' } satisfies ResolvedClaimMapping,
} as const;

// ── JSON Schema ───────────────────────────────────────────────────────────────────────────────

const urlString = { type: 'string', minLength: 1, maxLength: 2048, pattern: '^https?://' } as const;
const shortString = { type: 'string', minLength: 1, maxLength: 256 } as const;
const claimPath = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_:$-]+(\\.[A-Za-z0-9_:$-]+)*$' } as const;

/** JSON Schema of `TokenConfig`; the lead embeds it under `auth` in the sidecar schema. */
export const tokenConfigSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://fhirgate.io/schemas/token-config.json',
  title: 'fhirgate token validation (auth)',
  type: 'object',
  additionalProperties: false,
  required: ['issuers'],
  properties: {
    maxTokenBytes: { type: 'integer', minimum: 256, maximum: 65536 },
    cache: {
      type: 'object',
      additionalProperties: false,
      properties: {
        maxEntries: { type: 'integer', minimum: 0, maximum: 1_000_000 },
        maxSeconds: { type: 'integer', minimum: 0, maximum: 3600 },
      },
    },
    issuers: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['issuer', 'audiences'],
        properties: {
          issuer: urlString,
          audiences: { type: 'array', minItems: 1, maxItems: 32, items: shortString },
          algorithms: {
            type: 'array',
            minItems: 1,
            maxItems: SUPPORTED_ALGORITHMS.length,
            uniqueItems: true,
            items: { enum: [...SUPPORTED_ALGORITHMS] },
          },
          jwksUri: urlString,
          discovery: { type: 'boolean' },
          allowInsecureLoopback: { type: 'boolean' },
          clockSkewSeconds: { type: 'integer', minimum: 0, maximum: 300 },
          maxLifetimeSeconds: { type: 'integer', minimum: 60, maximum: 86400 },
          allowedTyp: { type: 'array', minItems: 1, maxItems: 8, items: { type: 'string', minLength: 1, maxLength: 64 } },
          jwks: {
            type: 'object',
            additionalProperties: false,
            properties: {
              refreshSeconds: { type: 'integer', minimum: 10, maximum: 86400 },
              maxStaleSeconds: { type: 'integer', minimum: 10, maximum: 604800 },
              timeoutMs: { type: 'integer', minimum: 50, maximum: 30000 },
              unknownKidCooldownSeconds: { type: 'integer', minimum: 1, maximum: 3600 },
              maxBytes: { type: 'integer', minimum: 1024, maximum: 4 * 1024 * 1024 },
            },
          },
          introspection: {
            type: 'object',
            additionalProperties: false,
            required: ['endpoint', 'clientId', 'clientSecretFile'],
            properties: {
              endpoint: urlString,
              clientId: shortString,
              clientSecretFile: { type: 'string', minLength: 1, maxLength: 4096 },
              timeoutMs: { type: 'integer', minimum: 50, maximum: 30000 },
              maxCacheSeconds: { type: 'integer', minimum: 0, maximum: 3600 },
            },
          },
          claims: {
            type: 'object',
            additionalProperties: false,
            properties: { patient: claimPath, fhirUser: claimPath, roles: claimPath, encounter: claimPath },
          },
          requireCertificateBinding: { type: 'boolean' },
          certificateBoundClients: { type: 'array', maxItems: 10000, items: shortString },
        },
      },
    },
    revocations: {
      type: 'object',
      additionalProperties: false,
      properties: {
        jtis: { type: 'array', maxItems: 1_000_000, items: shortString },
        subjects: {
          type: 'array',
          maxItems: 1_000_000,
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['issuer', 'subject'],
            properties: { issuer: urlString, subject: shortString },
          },
        },
        clients: { type: 'array', maxItems: 100_000, items: shortString },
      },
    },
  },
} as const;

/** A configuration the token layer cannot run with; `message` names the offending field. */
export class TokenConfigError extends TypeError {
  readonly code = 'ERR_TOKEN_CONFIG';
}

let validator: ((data: unknown) => boolean) & { errors?: unknown } | undefined;

function validate(input: unknown): void {
  if (validator === undefined) {
    const ajv = new Ajv2020({ allErrors: false, strict: true });
    validator = ajv.compile(tokenConfigSchema);
  }
  if (!validator(input)) {
    const errs = (validator.errors ?? []) as ReadonlyArray<{ instancePath?: string; message?: string }>;
    const first = errs[0];
    throw new TokenConfigError(`auth${first?.instancePath ?? ''}: ${first?.message ?? 'invalid'}`);
  }
}

/**
 * Validates a token configuration against the schema plus the rules a schema cannot say
 * (unique issuers, a key source for JWT issuers) and fills in defaults. Throws TokenConfigError.
 */
export function resolveTokenConfig(input: TokenConfig): ResolvedTokenConfig {
  validate(input);
  const seen = new Set<string>();
  const issuers = input.issuers.map((iss, i): ResolvedIssuerConfig => {
    if (seen.has(iss.issuer)) throw new TokenConfigError(`auth/issuers/${i}/issuer: duplicate issuer`);
    seen.add(iss.issuer);
    const discovery = iss.discovery ?? (iss.jwksUri === undefined && iss.introspection === undefined);
    if (iss.jwksUri !== undefined && iss.discovery === true) {
      throw new TokenConfigError(`auth/issuers/${i}: set either jwksUri or discovery, not both`);
    }
    return {
      issuer: iss.issuer,
      audiences: [...iss.audiences],
      algorithms: [...(iss.algorithms ?? TOKEN_DEFAULTS.algorithms)],
      jwksUri: iss.jwksUri,
      discovery,
      allowInsecureLoopback: iss.allowInsecureLoopback ?? false,
      clockSkewSeconds: iss.clockSkewSeconds ?? TOKEN_DEFAULTS.clockSkewSeconds,
      maxLifetimeSeconds: iss.maxLifetimeSeconds ?? TOKEN_DEFAULTS.maxLifetimeSeconds,
      allowedTyp: iss.allowedTyp === undefined ? undefined : [...iss.allowedTyp],
      jwks: { ...TOKEN_DEFAULTS.jwks, ...iss.jwks },
      introspection:
        iss.introspection === undefined ? undefined : { ...TOKEN_DEFAULTS.introspection, ...iss.introspection },
      claims: { ...TOKEN_DEFAULTS.claims, ...iss.claims },
      requireCertificateBinding: iss.requireCertificateBinding ?? false,
      certificateBoundClients: [...(iss.certificateBoundClients ?? [])],
    };
  });
  return {
    maxTokenBytes: input.maxTokenBytes ?? TOKEN_DEFAULTS.maxTokenBytes,
    cache: { ...TOKEN_DEFAULTS.cache, ...input.cache },
    issuers,
    revocations: resolveRevocations(input.revocations ?? {}),
  };
}

export function resolveRevocations(r: Revocations): ResolvedRevocations {
  return { jtis: [...(r.jtis ?? [])], subjects: [...(r.subjects ?? [])], clients: [...(r.clients ?? [])] };
}

/** True when the issuer verifies JWTs with keys (explicit JWKS or discovery). */
export function hasKeySource(iss: ResolvedIssuerConfig): boolean {
  return iss.jwksUri !== undefined || iss.discovery;
}
