import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import type { Principal } from '../../../src/core/principal.ts';
import { TokenCache, tokenHash } from '../../../src/token/cache.ts';

const p = (subject: string): Principal =>
  ({ tokenKind: 'jwt', issuer: 'i', subject, clientId: '', audience: [], scopes: [], jti: '', expiresAt: 0, issuedAt: undefined, patient: undefined, encounter: undefined, fhirContext: [], fhirUser: undefined, roles: [], certThumbprint: undefined, claims: {} }) satisfies Principal;

test('tokenHash is the hex SHA-256 and never the token', () => {
  assert.equal(tokenHash('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('entries expire at validUntil', () => {
  const c = new TokenCache(10);
  c.set('h', p('a'), 2000, 1000);
  assert.equal(c.get('h', 1999)?.subject, 'a');
  assert.equal(c.get('h', 2000), undefined);
  assert.equal(c.size, 0);
});

test('least recently used entry is evicted at capacity', () => {
  const c = new TokenCache(2);
  c.set('a', p('a'), 10_000, 0);
  c.set('b', p('b'), 10_000, 0);
  assert.ok(c.get('a', 1)); // a is now most recent
  c.set('c', p('c'), 10_000, 1);
  assert.equal(c.size, 2);
  assert.equal(c.get('b', 2), undefined);
  assert.ok(c.get('a', 2));
  assert.ok(c.get('c', 2));
});

test('capacity 0 disables caching; already-expired entries are not stored', () => {
  const off = new TokenCache(0);
  off.set('a', p('a'), 10_000, 0);
  assert.equal(off.get('a', 1), undefined);
  const c = new TokenCache(5);
  c.set('a', p('a'), 5, 5);
  assert.equal(c.size, 0);
  assert.throws(() => new TokenCache(-1), TypeError);
});

test('size stays bounded under many inserts', () => {
  const c = new TokenCache(100);
  for (let i = 0; i < 5000; i++) c.set(String(i), p(String(i)), 1e9, 0);
  assert.equal(c.size, 100);
  assert.ok(c.get('4999', 1));
  assert.equal(c.get('0', 1), undefined);
});

/** The reference: an array from least to most recently used, scanned and spliced. */
class ReferenceLru {
  readonly entries: Array<{ key: string; subject: string; until: number }> = [];
  readonly max: number;
  constructor(max: number) {
    this.max = max;
  }
  get(key: string, now: number): string | undefined {
    const i = this.entries.findIndex((e) => e.key === key);
    if (i === -1) return undefined;
    const [e] = this.entries.splice(i, 1);
    if (e === undefined || now >= e.until) return undefined;
    this.entries.push(e);
    return e.subject;
  }
  set(key: string, subject: string, until: number, now: number): void {
    if (this.max === 0 || until <= now) return;
    const i = this.entries.findIndex((e) => e.key === key);
    if (i !== -1) this.entries.splice(i, 1);
    while (this.entries.length >= this.max) this.entries.shift();
    this.entries.push({ key, subject, until });
  }
}

test('property: the cache behaves as a reference LRU over long runs of gets, sets and clears', () => {
  const op = fc.oneof(
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('set' as const), key: fc.nat(40), until: fc.integer({ min: 0, max: 60 }) }) },
    { weight: 5, arbitrary: fc.record({ kind: fc.constant('get' as const), key: fc.nat(40) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('tick' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('clear' as const) }) },
  );
  fc.assert(
    fc.property(fc.nat(12), fc.array(op, { minLength: 200, maxLength: 2000 }), (max, ops) => {
      const c = new TokenCache(max);
      const ref = new ReferenceLru(max);
      let now = 0;
      for (const [n, o] of ops.entries()) {
        if (o.kind === 'set') {
          c.set(String(o.key), p(`s${n}`), now + o.until, now);
          ref.set(String(o.key), `s${n}`, now + o.until, now);
        } else if (o.kind === 'get') {
          assert.equal(c.get(String(o.key), now)?.subject, ref.get(String(o.key), now));
        } else if (o.kind === 'tick') {
          now += 7;
        } else {
          c.clear();
          ref.entries.length = 0;
        }
        assert.equal(c.size, ref.entries.length);
      }
    }),
    { numRuns: 200 },
  );
});
