import { test } from 'node:test';
import assert from 'node:assert/strict';
import { algorithmsFor, parseKeySet } from '../../../src/token/jwk-set.ts';
import { makeKey } from './helpers.ts';

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));
const ALL = ['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA'];

test('algorithm families follow kty and crv', () => {
  assert.ok(algorithmsFor({ kty: 'RSA' }).includes('PS256'));
  assert.deepEqual(algorithmsFor({ kty: 'EC', crv: 'P-256' }), ['ES256']);
  assert.deepEqual(algorithmsFor({ kty: 'EC', crv: 'P-384' }), ['ES384']);
  assert.deepEqual(algorithmsFor({ kty: 'EC', crv: 'secp256k1' }), []);
  assert.deepEqual(algorithmsFor({ kty: 'oct' }), []);
  assert.deepEqual(algorithmsFor({ kty: 'OKP', crv: 'X25519' }), []);
});

test('imports public keys; an RSA key without alg serves every allowed RSA algorithm', async () => {
  const rsa = await makeKey('RS256', 'r');
  const { alg: _alg, ...noAlg } = rsa.publicJwk;
  const r = await parseKeySet(enc({ keys: [noAlg] }), ALL);
  assert.ok(r.ok);
  assert.deepEqual([...(r.keys[0]?.byAlg.keys() ?? [])], ['RS256', 'PS256']);
});

test('a declared alg restricts the key to that algorithm', async () => {
  const rsa = await makeKey('RS256', 'r');
  const r = await parseKeySet(enc({ keys: [rsa.publicJwk] }), ALL);
  assert.ok(r.ok);
  assert.deepEqual([...(r.keys[0]?.byAlg.keys() ?? [])], ['RS256']);
});

test('structural problems refuse the whole set', async () => {
  const ec = await makeKey('ES256', 'e');
  assert.deepEqual(await parseKeySet(enc('nope'), ALL), { ok: false, problem: 'not_json' });
  assert.deepEqual(await parseKeySet(enc({ keys: {} }), ALL), { ok: false, problem: 'no_keys_array' });
  assert.deepEqual(await parseKeySet(enc({ keys: Array.from({ length: 101 }, () => ec.publicJwk) }), ALL), { ok: false, problem: 'too_many_keys' });
  assert.deepEqual(await parseKeySet(enc({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }), ALL), { ok: false, problem: 'private_key' });
  assert.deepEqual(await parseKeySet(enc({ keys: [{ ...ec.publicJwk, d: 'AA' }] }), ALL), { ok: false, problem: 'private_key' });
  assert.deepEqual(await parseKeySet(enc('{"keys":[],"keys":[]}'), ALL), { ok: false, problem: 'not_json' });
});

test('unusable keys are skipped and counted; duplicates keep the first', async () => {
  const a = await makeKey('ES256', 'same');
  const b = await makeKey('ES256', 'same');
  const r = await parseKeySet(
    enc({
      keys: [
        a.publicJwk,
        b.publicJwk,
        { ...a.publicJwk, kid: 'x', use: 'enc' },
        { ...a.publicJwk, kid: 'y', key_ops: ['encrypt'] },
        { ...a.publicJwk, kid: '../etc' },
        { ...a.publicJwk, kid: 'z', x: 'not-a-point' },
        { kty: 'EC', crv: 'P-256', kid: 'w' },
        null,
      ],
    }),
    ALL,
  );
  assert.ok(r.ok);
  assert.equal(r.keys.length, 1);
  assert.equal(r.ignored, 7);
});
