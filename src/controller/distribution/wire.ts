/**
 * The distribution API on the wire (proto/fhirgate/distribution/v1/distribution.proto), shared by
 * the controller's bundle server and the sidecar's subscriber. Only types, the service definition
 * and constants live here — nothing that pulls in the Kubernetes client — so the sidecar can import
 * it without reaching the control plane's dependencies.
 *
 * Messages are loaded with the project's fixed loader options: snake_case field names, int64 as
 * number, bytes as Buffer, oneofs exposed as a `kind` discriminator.
 */
import * as grpc from '@grpc/grpc-js';
import { loadService } from '../../envoy/proto.ts';

export const DISTRIBUTION_PROTO = 'fhirgate/distribution/v1/distribution.proto';
export const DISTRIBUTION_SERVICE = 'fhirgate.distribution.v1.PolicyDistribution';
/** The audience sidecars request for their projected service-account token. */
export const DISTRIBUTION_AUDIENCE = 'fhirgate-controller';

export interface Hello {
  pod?: string;
  fhir_base_path?: string;
  sidecar_version?: string;
  current_version?: string;
  current_hash?: string;
}

export interface Ack {
  version?: string;
  hash?: string;
}

export interface Nack {
  version?: string;
  hash?: string;
  reason?: string;
  detail?: string;
}

/** One client → server message; `kind` names the oneof member that is set. */
export interface SubscribeRequest {
  kind?: 'hello' | 'ack' | 'nack';
  hello?: Hello;
  ack?: Ack;
  nack?: Nack;
}

export interface Bundle {
  /** Decimal integer, monotonic per controller. */
  version: string;
  /** Lower-case hex SHA-256 of `content`. */
  hash: string;
  content: Buffer;
  created_unix_ms: number;
}

/** Stable NACK reason codes (the `reason` field). */
export const NACK_REASONS = [
  'hash_mismatch',
  'content_invalid',
  'schema_invalid',
  'policy_invalid',
  'policy_ambiguous',
  'issuer_invalid',
  'client_invalid',
  'internal_error',
] as const;
export type NackReason = (typeof NACK_REASONS)[number];

/** The PolicyDistribution service definition (loaded once). */
export function distributionService(): grpc.ServiceDefinition {
  return loadService(DISTRIBUTION_PROTO, DISTRIBUTION_SERVICE);
}

/** A client constructor for the sidecar and tests. */
export function distributionClient(): grpc.ServiceClientConstructor {
  return grpc.makeGenericClientConstructor(distributionService(), 'PolicyDistribution');
}
