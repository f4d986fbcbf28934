/**
 * Executes `verify-instance` obligations: before an instance request under a patient-level (or
 * granular) grant is forwarded, ask the FHIR server whether that instance matches the grant's
 * criteria — `GET [base]/[type]?_id=<id>&<criteria>&_summary=count` — and allow only on a count
 * of one. The lookup runs with the caller's own bearer token (the FHIR server answers with what
 * that caller may see), is bounded in time and size, single-flighted and cached briefly.
 *
 * Outcomes: 'match' → forward; 'no-match' → 404 instance_not_in_compartment (404, not 403: the
 * existence of another patient's resource is itself PHI); anything else → 503, never an allow.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.ts';
import { systemClock } from '../core/clock.ts';
import type { Obligation } from '../core/decision.ts';

export type VerifyOutcome = 'match' | 'no-match' | 'unavailable';

export interface VerifierOptions {
  /** Base URL of the FHIR server as fhirgate-authz reaches it, e.g. `http://127.0.0.1:8080/fhir`. */
  readonly baseUrl: string;
  readonly timeoutMs?: number;
  readonly cacheSeconds?: number;
  readonly maxEntries?: number;
  readonly maxResponseBytes?: number;
  readonly fetch?: typeof fetch;
  readonly clock?: Clock;
}

const ID = /^[A-Za-z0-9\-.]{1,64}$/;
const TYPE = /^[A-Z][A-Za-z]{1,63}$/;
const CRITERIA = /^[A-Za-z0-9_\-.:]+=[A-Za-z0-9%_\-.~]+(&[A-Za-z0-9_\-.:]+=[A-Za-z0-9%_\-.~]+)*$/;

export class InstanceVerifier {
  readonly #base: string;
  readonly #timeoutMs: number;
  readonly #ttlMs: number;
  readonly #max: number;
  readonly #maxBytes: number;
  readonly #fetch: typeof fetch;
  readonly #clock: Clock;
  readonly #cache = new Map<string, { outcome: 'match' | 'no-match'; until: number }>();
  readonly #inflight = new Map<string, Promise<VerifyOutcome>>();

  constructor(opts: VerifierOptions) {
    this.#base = opts.baseUrl.replace(/\/+$/, '');
    this.#timeoutMs = opts.timeoutMs ?? 1000;
    this.#ttlMs = (opts.cacheSeconds ?? 30) * 1000;
    this.#max = opts.maxEntries ?? 10_000;
    this.#maxBytes = opts.maxResponseBytes ?? 64 * 1024;
    this.#fetch = opts.fetch ?? globalThis.fetch;
    this.#clock = opts.clock ?? systemClock;
  }

  async verify(o: Obligation, authorization: string | undefined): Promise<VerifyOutcome> {
    const { resourceType, id, criteria } = o.detail;
    if (resourceType === undefined || id === undefined || criteria === undefined) return 'unavailable';
    if (!TYPE.test(resourceType) || !ID.test(id) || !CRITERIA.test(criteria)) return 'unavailable';
    const key = createHash('sha256').update(`${resourceType}\0${id}\0${criteria}`).digest('base64url');
    const hit = this.#cache.get(key);
    if (hit !== undefined && hit.until > this.#clock.now()) return hit.outcome;
    const running = this.#inflight.get(key);
    if (running !== undefined) return running;
    const p = this.#lookup(resourceType, id, criteria, authorization).then((outcome) => {
      this.#inflight.delete(key);
      if (outcome !== 'unavailable') {
        if (this.#cache.size >= this.#max) this.#cache.delete(this.#cache.keys().next().value as string);
        this.#cache.set(key, { outcome, until: this.#clock.now() + this.#ttlMs });
      }
      return outcome;
    });
    this.#inflight.set(key, p);
    return p;
  }

  async #lookup(type: string, id: string, criteria: string, authorization: string | undefined): Promise<VerifyOutcome> {
    const url = `${this.#base}/${type}?_id=${id}&${criteria}&_summary=count`;
    try {
      const res = await this.#fetch(url, {
        method: 'GET',
        redirect: 'error',
        signal: AbortSignal.timeout(this.#timeoutMs),
        headers: { accept: 'application/fhir+json', ...(authorization !== undefined ? { authorization } : {}) },
      });
      if (res.status !== 200) {
        await res.body?.cancel();
        return 'unavailable';
      }
      const text = await readCapped(res, this.#maxBytes);
      if (text === undefined) return 'unavailable';
      const bundle = JSON.parse(text) as { resourceType?: unknown; total?: unknown };
      if (bundle?.resourceType !== 'Bundle' || typeof bundle.total !== 'number' || !Number.isInteger(bundle.total)) return 'unavailable';
      return bundle.total === 1 ? 'match' : bundle.total === 0 ? 'no-match' : 'unavailable';
    } catch {
      return 'unavailable';
    }
  }
}

async function readCapped(res: Response, max: number): Promise<string | undefined> {
  const reader = res.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > max) {
      await reader.cancel();
      return undefined;
    }
    chunks.push(value);
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
}
