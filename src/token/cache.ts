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

/** An entry, linked from least (head) to most (tail) recently used. */
interface Entry {
  readonly key: string;
  readonly principal: Principal;
  readonly validUntilMs: number;
  prev: Entry | undefined;
  next: Entry | undefined;
}

/**
 * The recency order is a doubly linked list beside the Map, so a hit moves two pointers and
 * allocates nothing. (Re-inserting the key at the end of the Map on every hit, the other common
 * way, churns the Map's hash table: it is rebuilt every few hits, and each rebuilt table is
 * long-lived garbage for the young-generation collector to copy.)
 */
export class TokenCache {
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Entry>();
  #head: Entry | undefined;
  #tail: Entry | undefined;

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
    if (nowMs >= e.validUntilMs) {
      this.#remove(e);
      return undefined;
    }
    if (e !== this.#tail) {
      this.#unlink(e);
      this.#append(e);
    }
    return e.principal;
  }

  /** Stores a verified principal until `validUntilMs`, evicting the least recently used entry. */
  set(hash: string, principal: Principal, validUntilMs: number, nowMs: number): void {
    if (this.#maxEntries === 0 || validUntilMs <= nowMs) return;
    const old = this.#entries.get(hash);
    if (old !== undefined) this.#remove(old);
    while (this.#entries.size >= this.#maxEntries && this.#head !== undefined) this.#remove(this.#head);
    const e: Entry = { key: hash, principal, validUntilMs, prev: undefined, next: undefined };
    this.#entries.set(hash, e);
    this.#append(e);
  }

  clear(): void {
    this.#entries.clear();
    this.#head = this.#tail = undefined;
  }

  #remove(e: Entry): void {
    this.#entries.delete(e.key);
    this.#unlink(e);
  }

  #unlink(e: Entry): void {
    if (e.prev === undefined) this.#head = e.next;
    else e.prev.next = e.next;
    if (e.next === undefined) this.#tail = e.prev;
    else e.next.prev = e.prev;
    e.prev = e.next = undefined;
  }

  #append(e: Entry): void {
    e.prev = this.#tail;
    if (this.#tail === undefined) this.#head = e;
    else this.#tail.next = e;
    this.#tail = e;
  }
}
