import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { TokenConfigError, resolveTokenConfig, tokenConfigSchema } from '../../../src/token/config.ts';
import type { TokenConfig } from '../../../src/token/config.ts';

const minimal: TokenConfig = { issuers: [{ issuer: 'https://idp.example', audiences: ['https://fhir.example'] }] };

test('schema compiles under ajv 8 strict mode (draft 2020-12)', () => {
  const validate = new Ajv2020({ strict: true }).compile(tokenConfigSchema);
  assert.equal(validate(minimal), true);
  assert.equal(validate({ ...minimal, extra: 1 }), false);
});

test('defaults are applied', () => {
  const c = resolveTokenConfig(minimal);
  assert.equal(c.maxTokenBytes, 8192);
  const iss = c.issuers[0];
  assert.ok(iss);
  assert.equal(iss.discovery, true);
  assert.deepEqual(iss.algorithms, ['RS256', 'ES256', 'PS256', 'EdDSA']);
  assert.equal(iss.claims.patient, 'patient');
  assert.equal(iss.jwks.maxBytes, 262144);
});

test('an introspection-only issuer does not discover keys', () => {
  const c = resolveTokenConfig({ issuers: [{ issuer: 'https://a', audiences: ['x'], introspection: { endpoint: 'https://a/i', clientId: 'c', clientSecretFile: '/s' } }] });
  assert.equal(c.issuers[0]?.discovery, false);
  assert.equal(c.issuers[0]?.introspection?.maxCacheSeconds, 60);
});

test('bad configs are refused with the field named', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ issuers: [{ issuer: 'https://a', audiences: ['x'], algorithms: ['HS256'] }] }, /algorithms\/0/],
    [{ issuers: [{ issuer: 'https://a', audiences: ['x'], algorithms: ['none'] }] }, /algorithms\/0/],
    [{ issuers: [{ issuer: 'https://a', audiences: ['x'], clockSkewSeconds: 301 }] }, /clockSkewSeconds/],
    [{ issuers: [{ issuer: 'https://a', audiences: [] }] }, /audiences/],
    [{ issuers: [{ issuer: 'ftp://a', audiences: ['x'] }] }, /issuer/],
    [{ issuers: [{ issuer: 'https://a', audiences: ['x'], jwks: { bogus: 1 } }] }, /jwks/],
    [{ issuers: [{ issuer: 'https://a', audiences: ['x'] }, { issuer: 'https://a', audiences: ['y'] }] }, /duplicate/],
    [{ issuers: [{ issuer: 'https://a', audiences: ['x'], jwksUri: 'https://a/j', discovery: true }] }, /either/],
    [{ issuers: [] }, /issuers/],
    [{ maxTokenBytes: 10 ** 9, issuers: minimal.issuers }, /maxTokenBytes/],
  ];
  for (const [cfg, re] of cases) assert.throws(() => resolveTokenConfig(cfg as TokenConfig), (e: unknown) => e instanceof TokenConfigError && re.test(e.message), JSON.stringify(cfg));
});
