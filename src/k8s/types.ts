/**
 * TypeScript shapes of the fhirgate custom resources, as the controller reads them from the API
 * server. Spec types reuse the source types where the schema does (a policy spec IS a
 * FhirAccessPolicySpec; an issuer spec is the file configuration's IssuerConfig with the
 * cluster-specific changes described in kinds/trusted-issuer.ts), so a field added to the source
 * shows up here without a second edit. A unit test checks typed examples against the schemas.
 */
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { FhirAccessPolicySpec } from '../policy/spec.ts';
import type { IntrospectionConfig, IssuerConfig, RevokedSubject } from '../token/config.ts';
import type { API_VERSION } from './crd.ts';
import type { ConditionType } from './status.ts';
import type { LOCAL_ONLY_ISSUER_FIELDS } from './kinds/trusted-issuer.ts';

/** metav1.Condition. `type` is open (other controllers may add conditions); ours are ConditionType. */
export interface Condition {
  readonly type: ConditionType | (string & {});
  readonly status: 'True' | 'False' | 'Unknown';
  readonly observedGeneration?: number;
  /** RFC 3339 timestamp. */
  readonly lastTransitionTime: string;
  readonly reason: string;
  readonly message: string;
}

/** Status fields every fhirgate kind has. */
export interface CommonStatus {
  readonly observedGeneration?: number;
  readonly conditions?: readonly Condition[];
}

/** A custom resource of one of our kinds. */
export interface Resource<K extends string, Spec, Status> {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: K;
  readonly metadata: V1ObjectMeta;
  readonly spec: Spec;
  readonly status?: Status;
}

// ── FhirAccessPolicy ─────────────────────────────────────────────────────────────────────────

export interface FhirAccessPolicyStatus extends CommonStatus {
  /** sha256 (hex) of the accepted spec. */
  readonly policyHash?: string;
  readonly enforcedBy?: { readonly current: number; readonly total: number };
}

export type FhirAccessPolicy = Resource<'FhirAccessPolicy', FhirAccessPolicySpec, FhirAccessPolicyStatus>;

// ── TrustedIssuer ────────────────────────────────────────────────────────────────────────────

/** A key of a Secret in the object's own namespace. */
export interface SecretKeyRef {
  readonly name: string;
  readonly key: string;
}

export type TrustedIssuerIntrospection = Omit<IntrospectionConfig, 'clientSecretFile'> & {
  readonly clientSecretRef: SecretKeyRef;
};

export type TrustedIssuerSpec = Omit<IssuerConfig, (typeof LOCAL_ONLY_ISSUER_FIELDS)[number] | 'introspection'> & {
  readonly introspection?: TrustedIssuerIntrospection;
};

export type TrustedIssuerStatus = CommonStatus;

export type TrustedIssuer = Resource<'TrustedIssuer', TrustedIssuerSpec, TrustedIssuerStatus>;

// ── SmartClient ──────────────────────────────────────────────────────────────────────────────

export interface SmartClientSpec {
  readonly clientId: string;
  readonly scopeCeiling: readonly string[];
  readonly requireCertificateBinding?: boolean;
  /** base64url SHA-256 certificate thumbprints (x5t#S256). */
  readonly certificateThumbprints?: readonly string[];
  readonly rateLimit?: { readonly requestsPerSecond: number; readonly burst?: number };
  readonly phiQuota?: { readonly distinctPatientsPerHour: number };
}

export interface SmartClientStatus extends CommonStatus {
  readonly quarantined?: boolean;
  readonly quarantineReason?: string;
  /** RFC 3339 timestamp. */
  readonly since?: string;
}

export type SmartClient = Resource<'SmartClient', SmartClientSpec, SmartClientStatus>;

// ── TokenRevocation ──────────────────────────────────────────────────────────────────────────

export interface TokenRevocationSpec {
  readonly jtis?: readonly string[];
  readonly subjects?: readonly RevokedSubject[];
  readonly clients?: readonly string[];
  readonly reason: string;
  /** RFC 3339 timestamp. */
  readonly expiresAt?: string;
}

export interface TokenRevocationStatus extends CommonStatus {
  readonly entries?: number;
}

export type TokenRevocation = Resource<'TokenRevocation', TokenRevocationSpec, TokenRevocationStatus>;

/** Any fhirgate custom resource. */
export type FhirgateResource = FhirAccessPolicy | TrustedIssuer | SmartClient | TokenRevocation;
export type FhirgateKind = FhirgateResource['kind'];
