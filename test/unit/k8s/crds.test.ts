import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { columnProblem, crdProblems } from '../../../src/k8s/crd-check.ts';
import { GROUP, VERSION } from '../../../src/k8s/crd.ts';
import type { CustomResourceDefinition } from '../../../src/k8s/crd.ts';
import { allCrds, manifestDrift, renderCrdFiles, writeCrdFiles } from '../../../src/k8s/manifests.ts';
import { nodeAt } from '../../../src/k8s/schema-edit.ts';
import type { JSONSchemaProps } from '../../../src/k8s/schema-types.ts';
import { tokenConfigSchema } from '../../../src/token/config.ts';
import { policySpecSchema } from '../../../src/policy/spec.ts';
import { toStructural } from '../../../src/k8s/structural.ts';

const REPO = join(import.meta.dirname, '..', '..', '..');
const CRD_DIR = join(REPO, 'manifests', 'crds');
const crds = allCrds();
const byKind = (kind: string): CustomResourceDefinition => {
  const c = crds.find((x) => x.spec.names.kind === kind);
  assert.ok(c, kind);
  return c;
};
const schemaOf = (kind: string): JSONSchemaProps => byKind(kind).spec.versions[0]!.schema.openAPIV3Schema;
const rules = (s: JSONSchemaProps) => (s['x-kubernetes-validations'] ?? []).map((r) => r.rule);

describe('generated CRDs', () => {
  test('the four kinds, in group fhirgate.io, version v1alpha1 (served, storage), namespaced', () => {
    assert.deepEqual(crds.map((c) => c.spec.names.kind).sort(), ['FhirAccessPolicy', 'SmartClient', 'TokenRevocation', 'TrustedIssuer']);
    for (const c of crds) {
      assert.equal(c.spec.group, GROUP);
      assert.equal(c.spec.scope, 'Namespaced');
      assert.deepEqual(c.spec.versions.map((v) => [v.name, v.served, v.storage]), [[VERSION, true, true]]);
      assert.deepEqual(c.spec.versions[0]!.subresources, { status: {} });
      assert.ok(c.spec.names.categories.includes('fhirgate'));
    }
  });

  for (const c of crds) {
    test(`${c.metadata.name} is structural, bounded, and its printer columns name real fields`, () => {
      assert.deepEqual(crdProblems(c), []);
    });
    test(`${c.metadata.name} has standard conditions keyed by type, and observedGeneration`, () => {
      const status = nodeAt(c.spec.versions[0]!.schema.openAPIV3Schema, ['status']);
      const conditions = nodeAt(status, ['conditions']);
      assert.equal(conditions['x-kubernetes-list-type'], 'map');
      assert.deepEqual(conditions['x-kubernetes-list-map-keys'], ['type']);
      const item = nodeAt(conditions, ['[]']);
      assert.deepEqual(Object.keys(item.properties ?? {}).sort(), ['lastTransitionTime', 'message', 'observedGeneration', 'reason', 'status', 'type']);
      assert.deepEqual(item.required, ['type', 'status', 'lastTransitionTime', 'reason', 'message']);
      assert.deepEqual(nodeAt(item, ['status']).enum, ['True', 'False', 'Unknown']);
      assert.equal(nodeAt(status, ['observedGeneration']).type, 'integer');
    });
  }

  test('printer columns as kubectl users expect them', () => {
    const cols = (kind: string) => byKind(kind).spec.versions[0]!.additionalPrinterColumns.map((c) => c.name);
    assert.deepEqual(cols('FhirAccessPolicy'), ['Base Path', 'Accepted', 'Ready', 'Enforced', 'Workloads', 'Age']);
    assert.deepEqual(cols('TrustedIssuer'), ['Issuer', 'Accepted', 'Ready', 'Age']);
    assert.deepEqual(cols('SmartClient'), ['Client ID', 'Quarantined', 'Ready', 'Age']);
    assert.deepEqual(cols('TokenRevocation'), ['Entries', 'Expires', 'Ready', 'Age']);
  });

  test('the column check catches paths that name nothing and wrong types', () => {
    const root = schemaOf('FhirAccessPolicy');
    assert.equal(columnProblem(root, '.spec.fhirBasePath', 'string'), undefined);
    assert.match(columnProblem(root, '.spec.basePath', 'string') ?? '', /names no field/);
    assert.match(columnProblem(root, '.spec.fhirBasePath', 'integer') ?? '', /does not fit/);
    assert.match(columnProblem(root, '.status.conditions[?(@.kind=="Ready")].status', 'string') ?? '', /needs a list of objects/);
    assert.match(columnProblem(root, '.spec.x[0]', 'string') ?? '', /unsupported JSONPath/);
  });

  test('FhirAccessPolicy: spec is policySpecSchema converted, plus CEL and list keys', () => {
    const spec = nodeAt(schemaOf('FhirAccessPolicy'), ['spec']);
    const { description: _d, ...rest } = spec;
    const bare = structuredClone(rest);
    // Remove the overlays; what remains must be exactly the converter's output.
    for (const p of [['search'], ['patientCompartment']]) delete nodeAt(bare, p)['x-kubernetes-validations'];
    for (const p of [['clients'], ['operations']]) {
      delete nodeAt(bare, p)['x-kubernetes-list-type'];
      delete nodeAt(bare, p)['x-kubernetes-list-map-keys'];
    }
    assert.deepEqual(bare, toStructural(policySpecSchema, 'spec'));
    assert.deepEqual(spec.required, ['fhirBasePath']);
    assert.match(rules(nodeAt(spec, ['search']))[0] ?? '', /defaultCount <= \(has\(self\.maxCount\) \? self\.maxCount : 100\)/);
    const compartmentRule = rules(nodeAt(spec, ['patientCompartment']))[0] ?? '';
    for (const t of ['"Patient"', '"Observation"', '"Encounter"']) assert.ok(compartmentRule.includes(t), t);
    assert.ok(!compartmentRule.includes('"Practitioner"'), 'Practitioner is outside the Patient compartment');
    assert.deepEqual(nodeAt(spec, ['clients'])['x-kubernetes-list-map-keys'], ['clientId']);
    const status = nodeAt(schemaOf('FhirAccessPolicy'), ['status']);
    assert.equal(nodeAt(status, ['policyHash']).pattern, '^[0-9a-f]{64}$');
    assert.deepEqual(nodeAt(status, ['enforcedBy']).required, ['current', 'total']);
  });

  test('TrustedIssuer: the token config issuer minus allowInsecureLoopback, with clientSecretRef', () => {
    const spec = nodeAt(schemaOf('TrustedIssuer'), ['spec']);
    const source = toStructural(tokenConfigSchema.properties.issuers.items);
    const names = Object.keys(spec.properties ?? {});
    assert.deepEqual(names, Object.keys(source.properties ?? {}).filter((n) => n !== 'allowInsecureLoopback'));
    for (const n of names.filter((x) => x !== 'introspection')) assert.deepEqual(spec.properties![n], source.properties![n], n);
    const intro = nodeAt(spec, ['introspection']);
    assert.equal(intro.properties?.clientSecretFile, undefined);
    assert.deepEqual(intro.required, ['endpoint', 'clientId', 'clientSecretRef']);
    assert.deepEqual(nodeAt(intro, ['clientSecretRef']).required, ['name', 'key']);
    assert.equal(nodeAt(intro, ['clientSecretRef']).properties?.namespace, undefined, 'same-namespace Secrets only');
    const all = [...rules(spec), ...rules(intro)].join('\n');
    assert.match(all, /self\.issuer\.startsWith\('https:\/\/'\)/);
    assert.match(all, /self\.jwksUri\.startsWith\('https:\/\/'\)/);
    assert.match(all, /self\.endpoint\.startsWith\('https:\/\/'\)/);
    assert.match(all, /has\(self\.jwksUri\) && has\(self\.discovery\) && self\.discovery/);
  });

  test('SmartClient: ceiling schemas shared with policy clients; binding, quotas, quarantine status', () => {
    const root = schemaOf('SmartClient');
    const spec = nodeAt(root, ['spec']);
    const policyClient = nodeAt(toStructural(policySpecSchema), ['clients', '[]']);
    assert.equal(nodeAt(spec, ['clientId']).pattern, policyClient.properties!.clientId!.pattern);
    assert.deepEqual(nodeAt(spec, ['scopeCeiling', '[]']), policyClient.properties!.scopeCeiling!.items);
    assert.deepEqual(rules(nodeAt(spec, ['clientId'])), ['self == oldSelf']);
    assert.match(rules(spec)[0] ?? '', /certificateThumbprints.*requireCertificateBinding/);
    assert.equal(nodeAt(spec, ['certificateThumbprints'])['x-kubernetes-list-type'], 'set');
    assert.deepEqual(nodeAt(spec, ['rateLimit']).required, ['requestsPerSecond']);
    assert.equal(nodeAt(spec, ['phiQuota', 'distinctPatientsPerHour']).type, 'integer');
    const status = nodeAt(root, ['status']);
    assert.equal(nodeAt(status, ['quarantined']).type, 'boolean');
    assert.equal(nodeAt(status, ['since']).format, 'date-time');
    assert.equal(nodeAt(status, ['quarantineReason']).type, 'string');
  });

  test('TokenRevocation: entries from the token config, at least one required by CEL', () => {
    const spec = nodeAt(schemaOf('TokenRevocation'), ['spec']);
    const source = toStructural(tokenConfigSchema.properties.revocations);
    for (const n of ['jtis', 'subjects', 'clients']) assert.deepEqual(nodeAt(spec, [n, '[]']), nodeAt(source, [n, '[]']), n);
    assert.deepEqual(spec.required, ['reason']);
    assert.match(rules(spec)[0] ?? '', /size\(self\.jtis\).*size\(self\.subjects\).*size\(self\.clients\).*> 0/);
  });
});

describe('manifests/crds/ is generated and current', () => {
  test('the committed files match what src/k8s renders (run `node scripts/gen-manifests.ts` if not)', () => {
    assert.deepEqual(manifestDrift(CRD_DIR), { stale: [], extra: [] });
  });

  test('the committed YAML parses back to the same objects', () => {
    for (const c of crds) assert.deepEqual(parse(readFileSync(join(CRD_DIR, `${c.metadata.name}.yaml`), 'utf8')), structuredClone(c));
  });

  test('rendering is deterministic', () => {
    assert.deepEqual([...renderCrdFiles()], [...renderCrdFiles()]);
  });

  test('drift detection: a changed, a missing and a leftover file are reported; writing repairs them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fhirgate-crds-'));
    try {
      assert.equal(manifestDrift(dir).stale.length, crds.length, 'empty dir: everything missing');
      writeCrdFiles(dir);
      assert.deepEqual(manifestDrift(dir), { stale: [], extra: [] });
      const [first, second] = [...renderCrdFiles().keys()];
      writeFileSync(join(dir, first!), readFileSync(join(dir, first!), 'utf8').replace('maxLength: 256', 'maxLength: 257'));
      rmSync(join(dir, second!));
      writeFileSync(join(dir, 'old.fhirgate.io.yaml'), 'kind: CustomResourceDefinition\n');
      assert.deepEqual(manifestDrift(dir), { stale: [first, second], extra: ['old.fhirgate.io.yaml'] });
      writeCrdFiles(dir);
      assert.deepEqual(manifestDrift(dir), { stale: [], extra: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('scripts/gen-manifests.ts --check exits 0 on the repository, 2 on bad usage', () => {
    const ok = spawnSync(process.execPath, ['scripts/gen-manifests.ts', '--check'], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /up to date/);
    const bad = spawnSync(process.execPath, ['scripts/gen-manifests.ts', '--frobnicate'], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
    assert.equal(bad.status, 2);
  });

  test('scripts/gen-manifests.ts --check exits 1 on a stale directory and 0 after writing it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fhirgate-crds-'));
    const run = (...a: string[]) => spawnSync(process.execPath, ['scripts/gen-manifests.ts', ...a, '--dir', dir], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
    try {
      const stale = run('--check');
      assert.equal(stale.status, 1);
      assert.match(stale.stderr, /fhiraccesspolicies\.fhirgate\.io\.yaml: stale or missing/);
      assert.equal(run().status, 0);
      assert.equal(run('--check').status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
