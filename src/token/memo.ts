/**
 * A small memo for pure functions of short strings that repeat from token to token (the header
 * segment of every token an issuer signs with one key, the scope claim of every token one client
 * gets). Bounded in entries and in key length, and emptied when full: inputs an attacker varies
 * only cost the computation the memo would have saved, and never more memory than the bounds.
 * Values must be immutable (frozen), since every caller with the same key gets the same value.
 */
export class BoundedMemo<V> {
  readonly #maxEntries: number;
  readonly #maxKeyLength: number;
  readonly #entries = new Map<string, V>();

  constructor(maxEntries: number, maxKeyLength: number) {
    this.#maxEntries = maxEntries;
    this.#maxKeyLength = maxKeyLength;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string): V | undefined {
    return this.#entries.get(key);
  }

  /**
   * Remembers `value` for `key`, unless the key is too long to be worth keeping. The key is kept
   * as a copy: a string cut from a larger one (a header segment from a token) can share the
   * larger one's memory, and a memo must not keep a bearer token alive.
   */
  set(key: string, value: V): void {
    if (key.length > this.#maxKeyLength) return;
    if (this.#entries.size >= this.#maxEntries) this.#entries.clear();
    this.#entries.set(Buffer.from(key, 'utf16le').toString('utf16le'), value);
  }
}
