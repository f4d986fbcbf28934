/**
 * Shared fixtures for the distribution tests: a fake TokenReview, a real DesiredState, a signing
 * issuer served through an injected fetch, a token file, and bounded waits on subscriber events
 * (no sleeping: every wait resolves on the event it names, or fails after a bound).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { DesiredState } from '../../../src/controller/desired-state.ts';
import type { ReviewResult, TokenReviewer } from '../../../src/controller/distribution/token-review.ts';
import { DistributionServer } from '../../../src/controller/distribution/server.ts';
import type { DistributionServerOptions } from '../../../src/controller/distribution/server.ts';
import { Subscriber } from '../../../src/authz/subscriber.ts';
import type { ControllerConfig, SubscriberEvent } from '../../../src/authz/subscriber.ts';
import { CheckPipeline } from '../../../src/authz/pipeline.ts';
import type { Decision } from '../../../src/core/decision.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { httpRequest } from '../../support/fixtures.ts';

export const NS = 'ward-a';
export const ISSUER = 'http://127.0.0.1:1/idp';

/** A TokenReview double: tokens map to usernames; everything else is unauthenticated. */
export class FakeReviewer implements TokenReviewer {
  readonly users = new Map<string, string>();
  calls = 0;
  audiences: string[] | undefined;
  async review(token: string, audience: string): Promise<ReviewResult> {
    this.calls++;
    const username = this.users.get(token);
    if (username === undefined) return { authenticated: false };
    return { authenticated: true, username, audiences: this.audiences ?? [audience] };
  }
}

export function policy(name: string, spec: Record<string, unknown> = {}) {
  return { apiVersion: 'fhirgate.io/v1alpha1', kind: 'FhirAccessPolicy', metadata: { name, namespace: NS }, spec: { fhirBasePath: '/fhir', ...spec } };
}

export const issuer = { issuer: ISSUER, audiences: ['fhir'], jwksUri: `${ISSUER}/jwks`, allowInsecureLoopback: true };

export async function signingIssuer() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  const fetch: typeof globalThis.fetch = async (input) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (url === `${ISSUER}/jwks`) return new Response(JSON.stringify({ keys: [jwk] }), { headers: { 'content-type': 'application/json' } });
    return new Response('not found', { status: 404 });
  };
  const token = (claims: Record<string, unknown> = {}) =>
    new SignJWT({ scope: 'system/Observation.rs', client_id: 'app', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISSUER)
      .setAudience('fhir')
      .setSubject('svc')
      .setJti(typeof claims['jti'] === 'string' ? claims['jti'] : `j-${Math.random()}`)
      .setIssuedAt()
      .setExpirationTime('10m')
      .sign(privateKey);
  return { fetch, token };
}

export function tokenFile(content = 'sa-token-1'): string {
  const dir = mkdtempSync(join(tmpdir(), 'fhirgate-dist-'));
  const file = join(dir, 'token');
  writeFileSync(file, content);
  return file;
}

export async function startServer(extra: Partial<DistributionServerOptions> = {}) {
  const desired = new DesiredState();
  const reviewer = new FakeReviewer();
  reviewer.users.set('sa-token-1', `system:serviceaccount:${NS}:fhir-server`);
  const server = new DistributionServer({ address: '127.0.0.1:0', desired, reviewer, ...extra });
  const address = await server.start();
  return { desired, reviewer, server, address };
}

/** Collects subscriber events and waits (bounded) for one that matches. */
export class EventLog {
  readonly events: SubscriberEvent[] = [];
  readonly #waiters: Array<{ match: (e: SubscriberEvent) => boolean; resolve: (e: SubscriberEvent) => void }> = [];
  constructor(sub: Subscriber) {
    sub.onEvent((e) => {
      this.events.push(e);
      for (const w of [...this.#waiters]) {
        if (w.match(e)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(e);
        }
      }
    });
  }
  /** The first event matching after `from` (an index into events), waiting up to timeoutMs. */
  wait<T extends SubscriberEvent>(match: (e: SubscriberEvent) => e is T, from = 0, timeoutMs = 5000): Promise<T> {
    const seen = this.events.slice(from).find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching subscriber event within ${timeoutMs} ms: ${JSON.stringify(this.events)}`)), timeoutMs);
      this.#waiters.push({
        match,
        resolve: (e) => {
          clearTimeout(timer);
          resolve(e as T);
        },
      });
    });
  }
}

export const isApplied = (e: SubscriberEvent): e is Extract<SubscriberEvent, { type: 'applied' }> => e.type === 'applied';
export const isRejected = (e: SubscriberEvent): e is Extract<SubscriberEvent, { type: 'rejected' }> => e.type === 'rejected';
export const isDisconnected = (e: SubscriberEvent): e is Extract<SubscriberEvent, { type: 'disconnected' }> => e.type === 'disconnected';
export const appliedHash = (hash: string) => (e: SubscriberEvent): e is Extract<SubscriberEvent, { type: 'applied' }> =>
  e.type === 'applied' && e.hash === hash;

export function startSubscriber(config: Partial<ControllerConfig> & { address: string }, fetch?: typeof globalThis.fetch) {
  const sub = new Subscriber({
    config: { tokenFile: tokenFile(), fhirBasePath: '/fhir', pod: 'fhir-0', backoff: { initialMs: 20, maxMs: 200 }, ...config },
    log: silentLogger,
    ...(fetch !== undefined ? { authenticatorDeps: { fetch } } : {}),
  });
  const log = new EventLog(sub);
  return { sub, log };
}

/** The decision the sidecar's pipeline makes with what the subscriber enforces now. */
export async function decide(sub: Subscriber, token: string | undefined, path = '/fhir/Observation'): Promise<Decision> {
  const pipeline = new CheckPipeline({ authenticator: sub, authorizer: () => sub.authorizer(), maxBodyBytes: 1024, record: () => {} });
  const headers = new Map<string, string>();
  if (token !== undefined) headers.set('authorization', `Bearer ${token}`);
  return (await pipeline.decide(httpRequest({ path, headers }))).decision;
}

/** Resolves when `cond` holds, re-checked on every status change of the server (bounded wait). */
export function untilStatus(server: DistributionServer, cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  if (cond()) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`timed out waiting for ${what}: ${JSON.stringify(server.workloads())}`));
    }, timeoutMs);
    const off = server.onStatusChange(() => {
      if (!cond()) return;
      clearTimeout(timer);
      off();
      resolve();
    });
  });
}
