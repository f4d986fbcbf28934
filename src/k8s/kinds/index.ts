/** Every fhirgate kind, in the order the manifests list them. Adding a kind = one file + one line here. */
import type { KindDefinition } from '../crd.ts';
import { fhirAccessPolicyKind } from './fhir-access-policy.ts';
import { smartClientKind } from './smart-client.ts';
import { tokenRevocationKind } from './token-revocation.ts';
import { trustedIssuerKind } from './trusted-issuer.ts';

export const KINDS: readonly KindDefinition[] = [trustedIssuerKind, fhirAccessPolicyKind, smartClientKind, tokenRevocationKind];
