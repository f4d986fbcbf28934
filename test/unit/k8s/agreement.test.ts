/**
 * The source schemas (what fhirgate lint and the compiler check) and the generated CRD schemas
 * (what the API server checks) must accept and refuse the same documents. Known, intended
 * differences are spelled out: unknown fields are pruned by the API server instead of refused,
 * and some checks are CEL rules in the CRD (not evaluated here; the compiler refuses them too).
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compilePolicy } from '../../../src/policy/compile.ts';
import { policySpecSchema } from '../../../src/policy/spec.ts';
import type { FhirAccessPolicySpec } from '../../../src/policy/spec.ts';
import { allCrds } from '../../../src/k8s/manifests.ts';
import { KINDS } from '../../../src/k8s/kinds/index.ts';
import { nodeAt } from '../../../src/k8s/schema-edit.ts';
import type { JSONSchemaProps } from '../../../src/k8s/schema-types.ts';
import type { SmartClientSpec, TokenRevocationSpec, TrustedIssuerSpec } from '../../../src/k8s/types.ts';
import { crdValidator, sourceValidator, unknownFields } from './validators.ts';

const specSchemaOf = (kind: string): JSONSchemaProps => {
  const crd = allCrds().find((c) => c.spec.names.kind === kind);
  assert.ok(crd);
  return nodeAt(crd.spec.versions[0]!.schema.openAPIV3Schema, ['spec']);
};

const base: FhirAccessPolicySpec = { fhirBasePath: '/fhir' };
const with_ = (extra: object): unknown => ({ ...base, ...extra });

/** [name, spec, accepted by the source schema] */
const POLICY_EXAMPLES: Array<[string, unknown, boolean]> = [
  ['minimal', base, true],
  [
    'everything set',
    with_({
      fhirVersion: 'R4',
      baseUrl: 'https://ehr.example.org/fhir',
      publicCapabilities: false,
      scopes: { acceptV1: false, levels: ['patient', 'user'] },
      patientCompartment: { instanceAccess: 'verify', narrowSearches: true, nonCompartmentTypes: ['Medication', 'Organization'] },
      search: { allowHas: false, maxChainDepth: 2, maxCount: 50, defaultCount: 20, systemSearchLevels: ['system'], requiredParams: [{ resourceType: 'Observation', anyOf: ['patient', 'subject'] }] },
      operations: [{ name: 'everything', levels: ['instance'], resourceTypes: ['Patient'], permission: 'r', scopeLevels: ['user'] }],
      minimization: [{ name: 'lab-min', clients: ['lab-app'], resourceTypes: ['Observation'], elements: ['status', 'value[x]'], summary: 'data', excessElements: 'trim' }],
      roles: { enforce: true, rules: [{ role: 'nurse', resourceTypes: ['*'], permissions: 'rs' }] },
      clients: [{ clientId: 'growth-chart', scopeCeiling: ['patient/Observation.rs'] }],
      consent: { optOut: [{ patient: 'p-1', clients: ['x'] }], sensitive: [{ name: 'hiv', resourceTypes: ['Condition'], categories: ['http://x|y'], purposeOfUse: ['TREAT'] }], purposeOfUseHeader: 'x-pou' },
      breakGlass: { roles: ['er-physician'], reasonHeader: 'x-bg', readOnly: true },
      body: { contentTypes: ['application/fhir+json'], maxBytes: 65536, maxDepth: 16, schemaValidation: true, unknownElements: 'reject' },
    }),
    true,
  ],
  ['missing fhirBasePath', { publicCapabilities: true }, false],
  ['fhirBasePath not a path', { fhirBasePath: 'fhir' }, false],
  ['fhirBasePath too long', { fhirBasePath: `/${'a'.repeat(256)}` }, false],
  ['fhirVersion R5', with_({ fhirVersion: 'R5' }), false],
  ['baseUrl with query', with_({ baseUrl: 'https://x/fhir?a=b' }), false],
  ['publicCapabilities as string', with_({ publicCapabilities: 'yes' }), false],
  ['unknown scope level', with_({ scopes: { levels: ['admin'] } }), false],
  ['duplicate scope level (set)', with_({ scopes: { levels: ['user', 'user'] } }), false],
  ['instanceAccess allow', with_({ patientCompartment: { instanceAccess: 'allow' } }), false],
  ['lower-case resource type', with_({ patientCompartment: { nonCompartmentTypes: ['medication'] } }), false],
  ['maxChainDepth 4', with_({ search: { maxChainDepth: 4 } }), false],
  ['maxCount 0', with_({ search: { maxCount: 0 } }), false],
  ['maxCount 1.5', with_({ search: { maxCount: 1.5 } }), false],
  ['requiredParams without anyOf', with_({ search: { requiredParams: [{ resourceType: 'Observation' }] } }), false],
  ['requiredParams with empty anyOf', with_({ search: { requiredParams: [{ resourceType: 'Observation', anyOf: [] }] } }), false],
  ['operation without permission', with_({ operations: [{ name: 'x', levels: ['type'] }] }), false],
  ['operation name with $', with_({ operations: [{ name: '$x', levels: ['type'], permission: 'r' }] }), false],
  ['role permissions empty', with_({ roles: { rules: [{ role: 'r', resourceTypes: ['*'], permissions: '' }] } }), false],
  ['role permissions out of order', with_({ roles: { rules: [{ role: 'r', resourceTypes: ['*'], permissions: 'rc' }] } }), false],
  ['role permissions crud', with_({ roles: { rules: [{ role: 'r', resourceTypes: ['Patient'], permissions: 'cruds' }] } }), true],
  ['client id with a space', with_({ clients: [{ clientId: 'a b', scopeCeiling: [] }] }), false],
  ['client id too long', with_({ clients: [{ clientId: 'a'.repeat(257), scopeCeiling: [] }] }), false],
  ['break-glass without roles', with_({ breakGlass: { readOnly: true } }), false],
  ['header with upper case', with_({ consent: { purposeOfUseHeader: 'X-Pou' } }), false],
  ['maxBytes above 16 MiB', with_({ body: { maxBytes: 16 * 1024 * 1024 + 1 } }), false],
  ['unknown content type', with_({ body: { contentTypes: ['text/plain'] } }), false],
  ['too many operations', with_({ operations: Array.from({ length: 65 }, (_, i) => ({ name: `op${i}`, levels: ['type'], permission: 'r' })) }), false],
  ['minimization name upper case', with_({ minimization: [{ name: 'Lab' }] }), false],
];

describe('FhirAccessPolicy: source schema and CRD schema agree', () => {
  const source = sourceValidator(policySpecSchema);
  const crdSchema = specSchemaOf('FhirAccessPolicy');
  const crd = crdValidator(crdSchema);

  for (const [name, spec, accepted] of POLICY_EXAMPLES) {
    test(`${accepted ? 'accepts' : 'refuses'}: ${name}`, () => {
      assert.equal(source(spec), accepted, 'source schema');
      assert.equal(crd(spec), accepted, 'CRD schema');
    });
  }

  test('an unknown field is refused by the source schema and pruned (not refused) by the API server', () => {
    const spec = with_({ serach: { maxCount: 5 } });
    assert.equal(source(spec), false);
    assert.equal(crd(spec), true);
    assert.deepEqual(unknownFields(crdSchema, spec), ['/serach']);
  });

  test('what the CRD leaves to CEL, the compiler refuses (defaultCount > maxCount, Patient as non-compartment type)', () => {
    for (const extra of [{ search: { maxCount: 10, defaultCount: 11 } }, { search: { defaultCount: 101 } }, { patientCompartment: { nonCompartmentTypes: ['Patient'] } }, { patientCompartment: { nonCompartmentTypes: ['Observation'] } }]) {
      const spec = with_(extra);
      assert.equal(source(spec), true);
      const r = compilePolicy({ apiVersion: 'fhirgate.io/v1alpha1', kind: 'FhirAccessPolicy', metadata: { name: 'p' }, spec });
      assert.equal(r.ok, false, JSON.stringify(extra));
    }
  });

  test('the compiler refuses what the CRD list keys refuse (duplicate clients and operations)', () => {
    for (const extra of [
      { clients: [{ clientId: 'a', scopeCeiling: [] }, { clientId: 'a', scopeCeiling: [] }] },
      { operations: [{ name: 'x', levels: ['type'], permission: 'r' }, { name: 'x', levels: ['instance'], permission: 'r' }] },
    ]) {
      const spec = with_(extra);
      assert.equal(crd(spec), false);
      assert.equal(compilePolicy({ apiVersion: 'fhirgate.io/v1alpha1', kind: 'FhirAccessPolicy', metadata: { name: 'p' }, spec }).ok, false);
    }
  });

  // Every string field: the converted pattern + inferred bounds accept exactly what the source accepts.
  const stringPairs: Array<[string, Record<string, unknown>, JSONSchemaProps]> = [];
  const collect = (src: Record<string, unknown>, out: JSONSchemaProps, path: string): void => {
    if (out.type === 'string' && typeof src.pattern === 'string') stringPairs.push([path, src, out]);
    for (const [k, child] of Object.entries((src.properties ?? {}) as Record<string, Record<string, unknown>>)) collect(child, out.properties![k]!, `${path}.${k}`);
    if (src.items !== undefined) collect(src.items as Record<string, unknown>, out.items!, `${path}[]`);
  };
  collect(policySpecSchema as unknown as Record<string, unknown>, crdSchema, 'spec');

  test('string fields with patterns were all found', () => assert.ok(stringPairs.length >= 15, String(stringPairs.length)));
  for (const [path, src, out] of stringPairs) {
    test(`${path}: converted pattern and bounds accept exactly what the source accepts`, () => {
      const s = sourceValidator({ ...src });
      const c = crdValidator(out);
      fc.assert(
        fc.property(fc.oneof(fc.string({ maxLength: 80 }), fc.stringMatching(new RegExp(out.pattern!, 'u')), fc.constantFrom('', '\n', 'a\n')), (v) => s(v) === c(v)),
        { numRuns: 200 },
      );
    });
  }
});

describe('other kinds: typed examples fit both schemas', () => {
  const kind = (k: string) => {
    const def = KINDS.find((d) => d.kind === k);
    assert.ok(def);
    return { source: sourceValidator(def.spec), crd: crdValidator(specSchemaOf(k)) };
  };

  test('TrustedIssuer', () => {
    const v = kind('TrustedIssuer');
    const good: TrustedIssuerSpec[] = [
      { issuer: 'https://idp.example.org/realms/ehr', audiences: ['https://ehr.example.org/fhir'], algorithms: ['RS256', 'ES256'], claims: { roles: 'realm_access.roles' } },
      { issuer: 'https://as.example.org', audiences: ['fhir'], introspection: { endpoint: 'https://as.example.org/introspect', clientId: 'gw', clientSecretRef: { name: 'as-secret', key: 'client-secret' } } },
    ];
    for (const g of good) assert.ok(v.source(g) && v.crd(g), JSON.stringify(g));
    const bad: unknown[] = [
      { issuer: 'https://a', audiences: [] },
      { issuer: 'https://a', audiences: ['x'], algorithms: ['HS256'] },
      { issuer: 'https://a', audiences: ['x'], introspection: { endpoint: 'https://a/i', clientId: 'c', clientSecretFile: '/etc/secret' } },
      { issuer: 'https://a', audiences: ['x'], introspection: { endpoint: 'https://a/i', clientId: 'c', clientSecretRef: { name: 'Bad_Name', key: 'k' } } },
      { issuer: 'ftp://a', audiences: ['x'] },
    ];
    for (const b of bad) assert.ok(!v.source(b), JSON.stringify(b));
    for (const b of bad.filter((_, i) => i !== 2)) assert.ok(!v.crd(b), JSON.stringify(b)); // #2: clientSecretFile is pruned, then clientSecretRef is missing
    assert.equal(v.crd(bad[2]), false);
    assert.equal(v.source({ issuer: 'http://127.0.0.1:8080', audiences: ['x'], allowInsecureLoopback: true }), false, 'local-only field is gone');
  });

  test('SmartClient', () => {
    const v = kind('SmartClient');
    const good: SmartClientSpec = {
      clientId: 'growth-chart',
      scopeCeiling: ['patient/Observation.rs', 'launch/patient'],
      requireCertificateBinding: true,
      certificateThumbprints: ['A'.repeat(43)],
      rateLimit: { requestsPerSecond: 10, burst: 20 },
      phiQuota: { distinctPatientsPerHour: 50 },
    };
    assert.ok(v.source(good) && v.crd(good));
    for (const b of [
      { clientId: 'x' },
      { ...good, certificateThumbprints: ['short'] },
      { ...good, certificateThumbprints: ['A'.repeat(43), 'A'.repeat(43)] },
      { ...good, rateLimit: { burst: 2 } },
      { ...good, phiQuota: { distinctPatientsPerHour: 0 } },
    ]) {
      assert.ok(!v.source(b) && !v.crd(b), JSON.stringify(b));
    }
  });

  test('TokenRevocation', () => {
    const v = kind('TokenRevocation');
    const good: TokenRevocationSpec = { jtis: ['a1'], subjects: [{ issuer: 'https://idp', subject: 'u1' }], clients: ['c'], reason: 'INC-42', expiresAt: '2026-02-01T00:00:00Z' };
    assert.ok(v.source(good) && v.crd(good));
    for (const b of [{ jtis: ['a'] }, { ...good, reason: '' }, { ...good, expiresAt: 'tomorrow' }, { ...good, subjects: [{ subject: 'u' }] }, { ...good, jtis: Array.from({ length: 4097 }, (_, i) => `j${i}`) }]) {
      assert.ok(!v.source(b) && !v.crd(b), JSON.stringify(b).slice(0, 80));
    }
  });
});
