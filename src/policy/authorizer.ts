/**
 * The contract of the authorize phase, as the pipeline sees it. The pipeline calls `route` before
 * authentication (so malformed or unknown requests are refused without touching the token layer,
 * and public routes need no token), then `authorize` with the verified principal.
 */
import type { Decision } from '../core/decision.ts';
import type { HttpRequest } from '../core/http.ts';
import type { Principal } from '../core/principal.ts';
import type { ReasonCode } from '../core/reasons.ts';
import type { FhirRequest } from '../fhir/request.ts';

export type RouteMatch =
  | { readonly kind: 'public'; readonly rule: string; readonly fhir: FhirRequest }
  | { readonly kind: 'protected'; readonly fhir: FhirRequest }
  | { readonly kind: 'invalid'; readonly reason: ReasonCode };

export interface Authorizer {
  /** Policy identity (name@hash prefix) for logs, explain and status. */
  readonly id: string;
  route(req: HttpRequest): RouteMatch;
  allowPublic(req: HttpRequest, match: RouteMatch & { kind: 'public' }): Decision;
  /** Total: every path ends in allow or deny. Never throws for any request/principal. */
  authorize(req: HttpRequest, match: RouteMatch & { kind: 'protected' }, principal: Principal): Decision;
}
