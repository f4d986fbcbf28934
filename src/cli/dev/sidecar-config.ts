/**
 * The fhirgate-authz configuration the dev stack runs with: the demo issuer as the only trusted
 * issuer (http allowed because it is on loopback), and a FhirAccessPolicy under which the demo
 * personas' SMART scopes decide. The e2e tests tune the JWKS timings through `jwks` (e.g. a short
 * max-stale bound for the outage test).
 */

export interface JwksTimings {
  readonly refreshSeconds?: number;
  readonly maxStaleSeconds?: number;
  readonly timeoutMs?: number;
  readonly unknownKidCooldownSeconds?: number;
}

export interface SidecarConfigOptions {
  readonly issuer: string;
  readonly audience: string;
  /** Where the sidecar writes its bound addresses (JSON {grpc, http}). */
  readonly addressFile: string;
  /** "127.0.0.1:0" style addresses; ports 0 by default. */
  readonly grpcListen?: string;
  readonly httpListen?: string;
  readonly fhirBasePath?: string;
  readonly maxBodyBytes: number;
  readonly jwks?: JwksTimings;
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** FHIR base URL the sidecar uses for verify-instance lookups (the sample FHIR server). */
  readonly upstreamFhirBaseUrl?: string;
}

export function sidecarConfig(opts: SidecarConfigOptions): Record<string, unknown> {
  return {
    listen: {
      grpc: opts.grpcListen ?? '127.0.0.1:0',
      http: opts.httpListen ?? '127.0.0.1:0',
      addressFile: opts.addressFile,
    },
    auth: {
      maxTokenBytes: 8192,
      issuers: [
        {
          issuer: opts.issuer,
          audiences: [opts.audience],
          algorithms: ['ES256', 'RS256'],
          discovery: true,
          allowInsecureLoopback: true,
          allowedTyp: ['at+jwt'],
          clockSkewSeconds: 30,
          maxLifetimeSeconds: 3600,
          jwks: {
            refreshSeconds: opts.jwks?.refreshSeconds ?? 300,
            maxStaleSeconds: opts.jwks?.maxStaleSeconds ?? 3600,
            timeoutMs: opts.jwks?.timeoutMs ?? 2000,
            unknownKidCooldownSeconds: opts.jwks?.unknownKidCooldownSeconds ?? 30,
          },
        },
      ],
      revocations: { jtis: [], subjects: [], clients: [] },
    },
    // The demo policy: SMART scopes decide (v1 and v2 spellings), patient-level grants are
    // confined to the launch patient — searches that name no patient are narrowed to it by a
    // query rewrite, instance reads are verified against the FHIR server — and capabilities are
    // public. Everything else is denied.
    policy: {
      apiVersion: 'fhirgate.io/v1alpha1',
      kind: 'FhirAccessPolicy',
      metadata: { name: 'fhirgate-demo' },
      spec: {
        fhirBasePath: opts.fhirBasePath ?? '/fhir',
        publicCapabilities: true,
        scopes: { acceptV1: true, levels: ['patient', 'user', 'system'] },
        patientCompartment: { instanceAccess: opts.upstreamFhirBaseUrl === undefined ? 'deny' : 'verify', narrowSearches: true },
        search: { maxCount: 100 },
        body: { maxBytes: opts.maxBodyBytes },
      },
    },
    body: { maxBytes: opts.maxBodyBytes },
    ...(opts.upstreamFhirBaseUrl === undefined ? {} : { upstream: { fhirBaseUrl: opts.upstreamFhirBaseUrl, timeoutMs: 1000, cacheSeconds: 30 } }),
    audit: { sink: 'stdout' },
    log: { level: opts.logLevel ?? 'info' },
  };
}
