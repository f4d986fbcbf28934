/**
 * Who is on the other end of a Subscribe stream: the pod's projected service-account token,
 * checked by the Kubernetes API server with a TokenReview.
 *
 * Why service-account tokens + TokenReview rather than mTLS:
 *  - no extra CA to run: the API server already signs and verifies these tokens, and the kubelet
 *    already mounts them into every pod (a projected volume with our audience);
 *  - the identity a review returns is namespace + service account, which is exactly what bundles
 *    are scoped by (a sidecar gets its namespace's policies), so there is no mapping from
 *    certificate names to workloads to get wrong;
 *  - projected tokens rotate automatically (the kubelet rewrites the file before expiry) and are
 *    bound to the pod: deleting the pod invalidates them.
 * What it costs: one TokenReview call to the API server per new stream (not per message), and
 * the answer is cached until the token's own `exp` (bounded) so a reconnect storm after a
 * controller restart does not become a TokenReview storm. A token is never logged; the cache is
 * keyed by its SHA-256.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../../core/clock.ts';
import { systemClock } from '../../core/clock.ts';

export interface WorkloadIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
}

export type ReviewResult =
  | { readonly authenticated: true; readonly username: string; readonly audiences: readonly string[] }
  | { readonly authenticated: false };

/** The one call we need from the API server; the real one wraps AuthenticationV1Api. */
export interface TokenReviewer {
  review(token: string, audience: string): Promise<ReviewResult>;
}

/** The structural slice of @kubernetes/client-node's AuthenticationV1Api used here. */
export interface TokenReviewApi {
  createTokenReview(param: {
    body: { apiVersion?: string; kind?: string; spec: { token: string; audiences?: string[] } };
  }): Promise<{ status?: { authenticated?: boolean; user?: { username?: string }; audiences?: string[]; error?: string } }>;
}

/** TokenReview through the API server (`kc.makeApiClient(AuthenticationV1Api)`). */
export class KubeTokenReviewer implements TokenReviewer {
  readonly #api: TokenReviewApi;
  constructor(api: TokenReviewApi) {
    this.#api = api;
  }

  async review(token: string, audience: string): Promise<ReviewResult> {
    const r = await this.#api.createTokenReview({
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [audience] } },
    });
    const s = r.status;
    if (s?.authenticated !== true || typeof s.user?.username !== 'string') return { authenticated: false };
    return { authenticated: true, username: s.user.username, audiences: s.audiences ?? [] };
  }
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const SA_NAME = /^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/;

/** `system:serviceaccount:<ns>:<sa>` → identity; anything else (users, nodes, groups) → undefined. */
export function identityFromUsername(username: string): WorkloadIdentity | undefined {
  const parts = username.split(':');
  if (parts.length !== 4 || parts[0] !== 'system' || parts[1] !== 'serviceaccount') return undefined;
  const [, , namespace, serviceAccount] = parts as [string, string, string, string];
  if (!DNS_LABEL.test(namespace) || !SA_NAME.test(serviceAccount)) return undefined;
  return { namespace, serviceAccount };
}

/** The unverified `exp` of a JWT, used only to bound how long a positive review is cached. */
function unverifiedExpMs(token: string): number | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined || payload.length > 16384) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export interface StreamAuthenticatorOptions {
  readonly reviewer: TokenReviewer;
  readonly audience: string;
  readonly clock?: Clock;
  /** Upper bound on caching one positive review, whatever the token's exp says. */
  readonly maxCacheSeconds?: number;
  readonly maxEntries?: number;
  readonly maxTokenBytes?: number;
}

/**
 * Bearer metadata → workload identity, or undefined (→ UNAUTHENTICATED). Negative answers are not
 * cached (a token that failed may be retried after the API server recovers); a reviewer error is a
 * refusal, never an identity.
 */
export class StreamAuthenticator {
  readonly #o: Required<Omit<StreamAuthenticatorOptions, 'clock'>>;
  readonly #clock: Clock;
  readonly #cache = new Map<string, { identity: WorkloadIdentity; untilMs: number }>();

  constructor(o: StreamAuthenticatorOptions) {
    this.#o = { maxCacheSeconds: 600, maxEntries: 10_000, maxTokenBytes: 16_384, ...o };
    this.#clock = o.clock ?? systemClock;
  }

  /** `authorization` metadata values (exactly one `Bearer <token>` accepted). */
  async authenticate(authorization: readonly unknown[]): Promise<WorkloadIdentity | undefined> {
    if (authorization.length !== 1 || typeof authorization[0] !== 'string') return undefined;
    const m = /^Bearer ([A-Za-z0-9._~+/=-]+)$/.exec(authorization[0]);
    const token = m?.[1];
    if (token === undefined || token.length > this.#o.maxTokenBytes) return undefined;
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.#clock.now();
    const hit = this.#cache.get(key);
    if (hit !== undefined) {
      if (hit.untilMs > now) return hit.identity;
      this.#cache.delete(key);
    }
    let result: ReviewResult;
    try {
      result = await this.#o.reviewer.review(token, this.#o.audience);
    } catch {
      return undefined;
    }
    if (!result.authenticated) return undefined;
    // The API server echoes the audiences it checked; an empty or foreign list is not ours.
    if (!result.audiences.includes(this.#o.audience)) return undefined;
    const identity = identityFromUsername(result.username);
    if (identity === undefined) return undefined;
    const exp = unverifiedExpMs(token);
    const untilMs = Math.min(exp ?? now, now + this.#o.maxCacheSeconds * 1000);
    if (untilMs > now) {
      if (this.#cache.size >= this.#o.maxEntries) this.#evictExpired(now);
      if (this.#cache.size < this.#o.maxEntries) this.#cache.set(key, { identity, untilMs });
    }
    return identity;
  }

  #evictExpired(now: number): void {
    for (const [k, v] of this.#cache) if (v.untilMs <= now) this.#cache.delete(k);
  }
}
