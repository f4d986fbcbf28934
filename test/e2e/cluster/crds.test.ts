/**
 * fhirgate's generated CRDs against the real API server: they install (structural, CEL compiled,
 * CEL cost within budget), defaults are applied, printer columns show, and every CEL rule refuses
 * the object it is written for, with its message. Opt-in like the other cluster tests.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { installCrds } from '../../../src/cli/dev/crds.ts';
import { BUILD_TIMEOUT_MS, clusterSkipReason, kubectlOf, startTestCluster } from './harness.ts';
import type { TestCluster } from './harness.ts';

const skipReason = clusterSkipReason();

const REPO = join(import.meta.dirname, '../../..');
const CRD_DIR = join(REPO, 'manifests/crds');
const NS = 'fhirgate-crd-e2e';
const obj = (kind: string, name: string, spec: unknown) => JSON.stringify({ apiVersion: 'fhirgate.io/v1alpha1', kind, metadata: { name, namespace: NS }, spec });

describe('generated CRDs on the real API server', { skip: skipReason ?? false, timeout: BUILD_TIMEOUT_MS }, () => {
  let cluster: TestCluster;
  const apply = (json: string, ...extra: string[]) => cluster.kubectl(['apply', '-f', '-', ...extra], { input: json });
  const refused = async (json: string, message: string) => {
    const r = await apply(json);
    assert.notEqual(r.code, 0, `expected a refusal: ${json}`);
    assert.ok(r.stderr.includes(message), `expected "${message}" in: ${r.stderr}`);
  };

  before(async () => {
    cluster = await startTestCluster((m) => console.log(`# ${m}`));
    await installCrds(kubectlOf(cluster), REPO);
    await cluster.kubectl(['create', 'namespace', NS]);
  });

  after(async () => {
    if (cluster === undefined) return;
    if (!cluster.startedHere) await cluster.kubectl(['delete', '--ignore-not-found', '--wait=false', '-f', CRD_DIR]);
    await cluster.stop();
  });

  it('accepts a valid object of every kind and applies schema defaults', async () => {
    for (const json of [
      obj('FhirAccessPolicy', 'ok', { fhirBasePath: '/fhir', roles: { rules: [{ role: 'nurse', resourceTypes: ['*'], permissions: 'rs' }] } }),
      obj('TrustedIssuer', 'ok', { issuer: 'https://idp.example.org', audiences: ['fhir'] }),
      obj('SmartClient', 'ok', { clientId: 'growth-chart', scopeCeiling: ['patient/Observation.rs'], requireCertificateBinding: true }),
      obj('TokenRevocation', 'ok', { jtis: ['abc'], reason: 'INC-1' }),
    ]) {
      const r = await apply(json, '--validate=strict');
      assert.equal(r.code, 0, r.stderr);
    }
    const got = await cluster.kubectl(['get', '-n', NS, 'fhiraccesspolicy', 'ok', '-o', 'jsonpath={.spec.fhirVersion} {.spec.publicCapabilities}']);
    assert.equal(got.stdout, 'R4 true');
  });

  it('shows the printer columns', async () => {
    const r = await cluster.kubectl(['get', '-n', NS, 'fap']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout.split('\n')[0] ?? '', /^NAME\s+BASE PATH\s+ACCEPTED\s+READY\s+ENFORCED\s+AGE$/);
    assert.match(r.stdout, /ok\s+\/fhir/);
  });

  it('refuses what the OpenAPI schema refuses, and unknown fields under --validate=strict', async () => {
    await refused(obj('FhirAccessPolicy', 'bad-path', { fhirBasePath: 'fhir' }), 'spec.fhirBasePath');
    await refused(obj('FhirAccessPolicy', 'bad-perm', { fhirBasePath: '/f', roles: { rules: [{ role: 'r', resourceTypes: ['*'], permissions: '' }] } }), 'permissions');
    const strict = await apply(obj('FhirAccessPolicy', 'typo', { fhirBasePath: '/f', serach: {} }), '--validate=strict');
    assert.notEqual(strict.code, 0);
    assert.match(strict.stderr, /serach/);
  });

  it('enforces every CEL rule with its message', async () => {
    await refused(obj('FhirAccessPolicy', 'c1', { fhirBasePath: '/f', search: { defaultCount: 101 } }), 'search.defaultCount must not exceed search.maxCount');
    await refused(obj('FhirAccessPolicy', 'c2', { fhirBasePath: '/f', patientCompartment: { nonCompartmentTypes: ['Patient'] } }), 'must not list Patient');
    await refused(obj('FhirAccessPolicy', 'c3', { fhirBasePath: '/f', clients: [{ clientId: 'a', scopeCeiling: [] }, { clientId: 'a', scopeCeiling: [] }] }), 'Duplicate value');
    await refused(obj('TrustedIssuer', 'c4', { issuer: 'http://idp', audiences: ['x'] }), 'issuer must be an https:// URL');
    await refused(obj('TrustedIssuer', 'c5', { issuer: 'https://idp', audiences: ['x'], jwksUri: 'http://idp/jwks' }), 'jwksUri must be an https:// URL');
    await refused(obj('TrustedIssuer', 'c6', { issuer: 'https://idp', audiences: ['x'], jwksUri: 'https://idp/jwks', discovery: true }), 'set either jwksUri or discovery');
    await refused(obj('TrustedIssuer', 'c7', { issuer: 'https://idp', audiences: ['x'], discovery: false }), 'an issuer needs a key source');
    await refused(
      obj('TrustedIssuer', 'c8', { issuer: 'https://idp', audiences: ['x'], introspection: { endpoint: 'http://idp/i', clientId: 'c', clientSecretRef: { name: 's', key: 'k' } } }),
      'endpoint must be an https:// URL',
    );
    await refused(obj('SmartClient', 'c9', { clientId: 'a', scopeCeiling: [], certificateThumbprints: ['A'.repeat(43)] }), 'certificateThumbprints need requireCertificateBinding');
    await refused(obj('SmartClient', 'ok', { clientId: 'other', scopeCeiling: [] }), 'clientId is immutable');
    await refused(obj('TokenRevocation', 'c10', { reason: 'x' }), 'list at least one jti, subject or client');
  });
});
