/** The sidecar config's `controller` section (controller mode) next to the unchanged file mode. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, parseConfig } from '../../../src/authz/config.ts';

const controller = { address: '127.0.0.1:9443', tokenFile: '/var/run/secrets/fhirgate/token' };

it('controller mode needs no auth/policy, fills backoff defaults and an empty issuer list', () => {
  const c = parseConfig({ controller: { ...controller, snapshotFile: '/snap/bundle.json', fhirBasePath: '/fhir' } });
  assert.deepEqual(c.controller?.backoff, { initialMs: 500, maxMs: 30_000 });
  assert.deepEqual(c.auth, { issuers: [] });
  assert.equal(c.policy, undefined);
  assert.ok(parseConfig({ controller: { ...controller, address: 'dns:///fhirgate-controller.fhirgate-system.svc:9443' } }).controller);
});

it('controller mode refuses local policy or issuers, and bad addresses', () => {
  const policy = { apiVersion: 'fhirgate.io/v1alpha1', kind: 'FhirAccessPolicy', metadata: { name: 'p' }, spec: { fhirBasePath: '/fhir' } };
  for (const doc of [
    { controller, policy },
    { controller, policyFile: '/p.yaml' },
    { controller, auth: { issuers: [{ issuer: 'https://idp', audiences: ['a'] }] } },
    { controller: { ...controller, address: '10.0.0.1:9443' } },
    { controller: { ...controller, address: 'dns:///evil host' } },
    { controller: { address: controller.address } },
    { controller: { ...controller, extra: 1 } },
  ]) {
    assert.throws(() => parseConfig(doc), ConfigError, JSON.stringify(doc));
  }
});
