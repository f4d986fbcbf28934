/**
 * Revocations: token ids, subjects (per issuer) and whole clients whose tokens must be refused
 * even though they verify. The list is replaced atomically at runtime (configuration today, CRDs
 * later) and consulted on every request, cache hits included, so a revocation takes effect on
 * the next request rather than when a cached entry expires.
 */
import type { Principal } from '../core/principal.ts';
import type { Revocations } from './config.ts';

export class RevocationList {
  #jtis: ReadonlySet<string> = new Set();
  #subjects: ReadonlySet<string> = new Set();
  #clients: ReadonlySet<string> = new Set();

  constructor(initial: Revocations = {}) {
    this.set(initial);
  }

  /** Replaces the whole list in one step. */
  set(r: Revocations): void {
    this.#jtis = new Set(r.jtis ?? []);
    this.#subjects = new Set((r.subjects ?? []).map((s) => subjectKey(s.issuer, s.subject)));
    this.#clients = new Set(r.clients ?? []);
  }

  /** True when the principal's token id, subject or client is revoked. Empty values never match. */
  isRevoked(p: Principal): boolean {
    // Runs on every request: an empty list costs no key building.
    if (this.#jtis.size > 0 && p.jti !== '' && this.#jtis.has(p.jti)) return true;
    if (this.#subjects.size > 0 && p.subject !== '' && this.#subjects.has(subjectKey(p.issuer, p.subject))) return true;
    return this.#clients.size > 0 && p.clientId !== '' && this.#clients.has(p.clientId);
  }
}

/** NUL cannot appear in an issuer URL, so the pair is unambiguous. */
function subjectKey(issuer: string, subject: string): string {
  return `${issuer}\u0000${subject}`;
}
