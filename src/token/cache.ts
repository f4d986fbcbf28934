/**
 * A bounded LRU of verified tokens. Keys are SHA-256 digests of the token, so the raw token is
 * never held as a key (nor shows up in a heap dump's key list or a debug log of the cache). An
 * entry lives until min(exp, insertion + maxSeconds). A hit only skips signature and claim
 * verification: revocation and certificate binding are still checked by the caller every time.
 */
import { hash } from 'node:crypto';
import type { Principal } from '../core/principal.ts';

/** Hex SHA-256 of a token: the cache key, and safe to use as a correlation id. */
export function tokenHash(token: string): string {
  // One-shot crypto.hash: about half the cost of createHash().update().digest() for a JWT.
  return hash('sha256', token, 'hex');
}

interface Entry {
  readonly principal: Principal;
  readonly validUntilMs: number;
}

export class TokenCache {
  readonly #maxEntries: number;
  /** Map iteration order is insertion order: the first key is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  /**
   * The keys from the least recently used on, for eviction; made at the first eviction. Map
   * iterators are live (they skip deleted entries and reach entries added later), and every live
   * entry is at or after this one's position: entries before it were evicted through it, and a
   * refreshed entry is re-added at the end. So each eviction goes on where the last stopped. A
   * fresh `keys()` per eviction would instead step over all the deleted slots a Map keeps at its
   * front until it compacts itself: about a microsecond per insert once the cache is full.
   */
  #oldest: MapIterator<string> | undefined;

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new TypeError('maxEntries must be a non-negative integer');
    this.#maxEntries = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The cached principal if present and not expired at `nowMs`; refreshes recency. O(1). */
  get(hash: string, nowMs: number): Principal | undefined {
    const e = this.#entries.get(hash);
    if (e === undefined) return undefined;
    this.#entries.delete(hash);
    if (nowMs >= e.validUntilMs) return undefined;
    this.#entries.set(hash, e);
    return e.principal;
  }

  /** Stores a verified principal until `validUntilMs`, evicting the least recently used entry. */
  set(hash: string, principal: Principal, validUntilMs: number, nowMs: number): void {
    if (this.#maxEntries === 0 || validUntilMs <= nowMs) return;
    this.#entries.delete(hash);
    while (this.#entries.size >= this.#maxEntries) this.#evictOldest();
    this.#entries.set(hash, { principal, validUntilMs });
  }

  clear(): void {
    this.#entries.clear();
    this.#oldest = undefined;
  }

  #evictOldest(): void {
    let oldest = this.#oldest?.next();
    if (oldest === undefined || oldest.done === true) {
      // First eviction (or, were the invariant above ever broken, a restart from the front).
      this.#oldest = this.#entries.keys();
      oldest = this.#oldest.next();
      if (oldest.done === true) return;
    }
    this.#entries.delete(oldest.value);
  }
}
