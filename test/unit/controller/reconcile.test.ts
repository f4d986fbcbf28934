import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mergeConditions } from '../../../src/controller/conditions.ts';
import { DesiredState } from '../../../src/controller/desired-state.ts';
import { fieldPath, reconcileObject } from '../../../src/controller/reconcile.ts';
import type { CachedObject, KindReconciler, ReconcileContext } from '../../../src/controller/reconcile.ts';
import { evaluateClient } from '../../../src/controller/reconcile-client.ts';
import { evaluateIssuer, issuerReconciler, secretFilePath } from '../../../src/controller/reconcile-issuer.ts';
import { evaluatePolicy, policyReconciler } from '../../../src/controller/reconcile-policy.ts';
import { evaluateRevocation } from '../../../src/controller/reconcile-revocation.ts';
import { readyWhenAccepted } from '../../../src/controller/readiness.ts';
import { StatusWriter } from '../../../src/controller/status-writer.ts';
import { condition, FakeSource } from './fakes.ts';

const NOW = Date.UTC(2026, 0, 2);
const obj = (name: string, spec: unknown, extra: Partial<CachedObject> = {}): CachedObject => ({
  metadata: { name, namespace: 'ehr', uid: `u-${name}`, generation: 1, resourceVersion: '1', creationTimestamp: '2026-01-01T00:00:00Z' },
  spec,
  ...extra,
});

function harness(leader = true) {
  const src = new FakeSource();
  const desired = new DesiredState();
  const writes: Array<Record<string, unknown>> = [];
  const events: string[] = [];
  const writer = new StatusWriter({
    status: {
      patchStatus: async (_k, ns, name, status) => {
        writes.push(status);
        src.patchStatus(ns, name, status);
      },
    },
    events: { warning: async (_k, o, reason, note) => void events.push(`${o.metadata?.name} ${reason} ${note}`) },
  });
  writer.setLeader(leader);
  const ctx: ReconcileContext = {
    desired,
    statusWriter: writer,
    readyFor: readyWhenAccepted,
    get: (ns, name) => src.objects.get(`${ns}/${name}`),
    list: () => [...src.objects.values()],
    now: () => NOW,
  };
  const run = (def: KindReconciler, name: string) => reconcileObject(def, ctx, 'ehr', name);
  return { src, desired, writes, events, writer, run };
}

const GOOD_POLICY = { fhirBasePath: '/fhir', roles: { rules: [{ role: 'nurse', resourceTypes: ['Observation'], permissions: 'rs' }] } };
const BAD_POLICY = { fhirBasePath: '/fhir', roles: { rules: [{ role: 'nurse', resourceTypes: ['Widget'], permissions: 'rs' }] } };

describe('policy reconciler', () => {
  it('accepts a policy the compiler accepts: desired, Accepted/Ready True, observedGeneration, policyHash', async () => {
    const h = harness();
    h.src.apply('ehr', 'p', GOOD_POLICY);
    assert.deepEqual(await h.run(policyReconciler, 'p'), { result: 'accepted' });
    const doc = h.desired.get('FhirAccessPolicy', 'ehr', 'p') as { spec: unknown; metadata: { namespace: string } };
    assert.deepEqual(doc.spec, GOOD_POLICY);
    assert.equal(doc.metadata.namespace, 'ehr');
    const o = h.src.objects.get('ehr/p');
    assert.equal(o?.status?.['observedGeneration'], 1);
    assert.match(String(o?.status?.['policyHash']), /^[0-9a-f]{64}$/);
    assert.equal(condition(o, 'Accepted')?.status, 'True');
    assert.equal(condition(o, 'Ready')?.status, 'True');
    assert.equal(condition(o, 'Ready')?.observedGeneration, 1);
    assert.deepEqual(h.events, []);
  });

  it('a rejected update keeps the last accepted spec in desired, names the field, and records one Warning event', async () => {
    const h = harness();
    h.src.apply('ehr', 'p', GOOD_POLICY);
    await h.run(policyReconciler, 'p');
    const hash = h.src.objects.get('ehr/p')?.status?.['policyHash'];
    h.src.apply('ehr', 'p', BAD_POLICY);
    assert.deepEqual(await h.run(policyReconciler, 'p'), { result: 'rejected' });
    await h.run(policyReconciler, 'p');
    assert.deepEqual((h.desired.get('FhirAccessPolicy', 'ehr', 'p') as { spec: unknown }).spec, GOOD_POLICY);
    const o = h.src.objects.get('ehr/p');
    const acc = condition(o, 'Accepted');
    assert.equal(acc?.status, 'False');
    assert.equal(acc?.reason, 'InvalidSpec');
    assert.match(acc?.message ?? '', /spec\.roles\.rules\[0\]\.resourceTypes\[0\]: "Widget" is not an R4 resource type/);
    assert.equal(condition(o, 'Ready')?.reason, 'LastAcceptedInEffect');
    assert.equal(o?.status?.['observedGeneration'], 2);
    assert.equal(o?.status?.['policyHash'], hash, 'policyHash still names the spec in effect');
    assert.equal(h.events.length, 1);
    assert.match(h.events[0] ?? '', /^p PolicyRejected InvalidSpec: spec\.roles/);
  });

  it('a never-accepted policy is not in desired and says so', async () => {
    const h = harness();
    h.src.apply('ehr', 'p', BAD_POLICY);
    await h.run(policyReconciler, 'p');
    assert.equal(h.desired.get('FhirAccessPolicy', 'ehr', 'p'), undefined);
    assert.equal(condition(h.src.objects.get('ehr/p'), 'Ready')?.reason, 'NotAccepted');
  });

  it('removes a deleted policy from desired', async () => {
    const h = harness();
    h.src.apply('ehr', 'p', GOOD_POLICY);
    await h.run(policyReconciler, 'p');
    h.src.objects.delete('ehr/p');
    assert.deepEqual(await h.run(policyReconciler, 'p'), { result: 'deleted' });
    assert.equal(h.desired.get('FhirAccessPolicy', 'ehr', 'p'), undefined);
  });

  it('skips the status write when nothing changed and keeps lastTransitionTime', async () => {
    const h = harness();
    h.src.apply('ehr', 'p', GOOD_POLICY);
    await h.run(policyReconciler, 'p');
    const t0 = condition(h.src.objects.get('ehr/p'), 'Accepted')?.lastTransitionTime;
    await h.run(policyReconciler, 'p');
    await h.run(policyReconciler, 'p');
    assert.equal(h.writes.length, 1);
    assert.equal(condition(h.src.objects.get('ehr/p'), 'Accepted')?.lastTransitionTime, t0);
  });

  it('a non-leader updates desired but writes no status and no events', async () => {
    const h = harness(false);
    h.src.apply('ehr', 'p', BAD_POLICY);
    await h.run(policyReconciler, 'p');
    h.src.apply('ehr', 'q', { ...GOOD_POLICY, fhirBasePath: '/q' });
    await h.run(policyReconciler, 'q');
    assert.deepEqual(h.writes, []);
    assert.deepEqual(h.events, []);
    assert.notEqual(h.desired.get('FhirAccessPolicy', 'ehr', 'q'), undefined);
  });

  it('two policies for one base path: the older wins, the newer is rejected with Conflict and kept out of desired', async () => {
    const h = harness();
    h.src.apply('ehr', 'old', GOOD_POLICY, { creationTimestamp: '2026-01-01T00:00:00Z' });
    h.src.apply('ehr', 'new', { ...GOOD_POLICY, fhirBasePath: '/fhir/' }, { creationTimestamp: '2026-01-01T01:00:00Z' });
    await h.run(policyReconciler, 'new');
    await h.run(policyReconciler, 'old');
    assert.equal(condition(h.src.objects.get('ehr/new'), 'Accepted')?.reason, 'Conflict');
    assert.match(condition(h.src.objects.get('ehr/new'), 'Accepted')?.message ?? '', /spec\.fhirBasePath is already declared by FhirAccessPolicy ehr\/old/);
    assert.equal(h.desired.get('FhirAccessPolicy', 'ehr', 'new'), undefined);
    assert.notEqual(h.desired.get('FhirAccessPolicy', 'ehr', 'old'), undefined);
    h.src.objects.delete('ehr/old');
    await h.run(policyReconciler, 'new');
    assert.equal(condition(h.src.objects.get('ehr/new'), 'Accepted')?.status, 'True');
  });

  it('rejects hostile specs without throwing', () => {
    for (const spec of [undefined, null, 42, 'x', [], { fhirBasePath: 7 }, JSON.parse('{"fhirBasePath":"/f","__proto__":{"x":1}}')]) {
      const v = evaluatePolicy(obj('p', spec));
      assert.equal(v.accepted, false, JSON.stringify(spec));
    }
  });
});

describe('issuer reconciler', () => {
  const base = { issuer: 'https://idp.example.org', audiences: ['fhir'], jwksUri: 'https://idp.example.org/jwks' };

  it('maps clientSecretRef to the mounted-secret file convention and validates with the token config resolver', () => {
    const v = evaluateIssuer(
      obj('i', { issuer: 'https://idp.example.org', audiences: ['fhir'], introspection: { endpoint: 'https://idp.example.org/introspect', clientId: 'gw', clientSecretRef: { name: 'idp-secret', key: 'client-secret' } } }),
    );
    assert.equal(v.accepted, true);
    const value = (v as { value: { introspection: { clientSecretFile: string; clientSecretRef?: unknown } } }).value;
    assert.equal(value.introspection.clientSecretFile, '/var/run/fhirgate/secrets/ehr/idp-secret/client-secret');
    assert.equal(value.introspection.clientSecretRef, undefined);
    assert.equal(secretFilePath('a', 'b', 'c'), '/var/run/fhirgate/secrets/a/b/c');
  });

  it('refuses http URLs, local-only fields, path tricks, and what the resolver refuses, naming the field', () => {
    const cases: Array<[unknown, RegExp]> = [
      [{ ...base, issuer: 'http://idp' }, /^spec\.issuer: must be an https/],
      [{ ...base, jwksUri: 'http://idp/jwks' }, /^spec\.jwksUri/],
      [{ ...base, allowInsecureLoopback: true }, /^spec\.allowInsecureLoopback/],
      [{ ...base, jwksUri: undefined, discovery: true, introspection: { endpoint: 'https://i', clientId: 'c', clientSecretRef: { name: '..', key: 'k' } } }, /clientSecretRef\.name/],
      [{ ...base, introspection: { endpoint: 'https://i', clientId: 'c', clientSecretRef: { name: 's', key: '../../etc/passwd' } } }, /clientSecretRef\.key/],
      [{ ...base, discovery: true }, /^spec: set either jwksUri or discovery/],
      [{ ...base, clockSkewSeconds: 9999 }, /^spec\.clockSkewSeconds/],
      [{ ...base, audiences: [] }, /^spec\.audiences/],
      [null, /^spec/],
    ];
    for (const [spec, re] of cases) {
      const v = evaluateIssuer(obj('i', spec));
      assert.equal(v.accepted, false, JSON.stringify(spec));
      assert.match((v as { message: string }).message, re);
    }
  });

  it('two TrustedIssuers for one iss in a namespace: the second is a Conflict', async () => {
    const h = harness();
    h.src.apply('ehr', 'a', base);
    h.src.apply('ehr', 'b', { ...base, audiences: ['other'] });
    await h.run(issuerReconciler, 'a');
    await h.run(issuerReconciler, 'b');
    assert.equal(condition(h.src.objects.get('ehr/b'), 'Accepted')?.reason, 'Conflict');
    assert.equal(h.desired.content('ehr').issuers.length, 1);
    assert.match(h.events[0] ?? '', /IssuerRejected Conflict/);
  });
});

describe('client reconciler', () => {
  it('accepts a valid client and carries the quarantine from status', () => {
    const v = evaluateClient(obj('c', { clientId: 'app', scopeCeiling: ['patient/Observation.rs'] }, { status: { quarantined: true } }));
    assert.deepEqual((v as { value: unknown }).value, { clientId: 'app', scopeCeiling: ['patient/Observation.rs'], requireCertificateBinding: false, certificateThumbprints: [], quarantined: true });
  });

  it('rejects scopes the SMART grammar cannot read and unpinned thumbprints', () => {
    const bad = evaluateClient(obj('c', { clientId: 'app', scopeCeiling: ['patient/Observation.rs', 'patient/Observation.xyz'] }));
    assert.equal(bad.accepted, false);
    assert.match((bad as { message: string }).message, /^spec\.scopeCeiling\[1\]/);
    const pins = evaluateClient(obj('c', { clientId: 'app', scopeCeiling: [], certificateThumbprints: ['A'.repeat(43)] }));
    assert.match((pins as { message: string }).message, /requireCertificateBinding/);
    assert.equal(evaluateClient(obj('c', { scopeCeiling: [] })).accepted, false);
  });
});

describe('revocation reconciler', () => {
  it('is in effect until expiresAt and asks to run again at the expiry', () => {
    const v = evaluateRevocation(obj('r', { jtis: ['j1'], subjects: [{ issuer: 'https://idp', subject: 's' }], reason: 'INC-1', expiresAt: new Date(NOW + 60_000).toISOString() }), NOW);
    assert.equal(v.accepted, true);
    assert.deepEqual((v as { value: unknown }).value, { jtis: ['j1'], subjects: [{ issuer: 'https://idp', subject: 's' }], clients: [] });
    assert.equal((v as { requeueAfterMs: number }).requeueAfterMs, 60_000);
    assert.deepEqual((v as { status: unknown }).status, { entries: 2 });
  });

  it('after expiresAt it is accepted but not in effect (Ready=False Expired)', async () => {
    const h = harness();
    const { revocationReconciler } = await import('../../../src/controller/reconcile-revocation.ts');
    h.src.apply('ehr', 'r', { clients: ['bad-app'], reason: 'x', expiresAt: new Date(NOW - 1).toISOString() });
    await h.run(revocationReconciler, 'r');
    assert.equal(h.desired.get('TokenRevocation', 'ehr', 'r'), undefined);
    assert.equal(condition(h.src.objects.get('ehr/r'), 'Ready')?.reason, 'Expired');
    assert.equal(condition(h.src.objects.get('ehr/r'), 'Accepted')?.status, 'True');
  });

  it('rejects empty revocations and bad timestamps', () => {
    assert.equal(evaluateRevocation(obj('r', { reason: 'x' }), NOW).accepted, false);
    assert.equal(evaluateRevocation(obj('r', { jtis: ['a'], reason: 'x', expiresAt: 'soon' }), NOW).accepted, false);
    assert.equal(evaluateRevocation(obj('r', { jtis: [''], reason: 'x' }), NOW).accepted, false);
  });
});

describe('helpers', () => {
  it('fieldPath turns JSON pointers into kubectl-style paths', () => {
    assert.equal(fieldPath('/spec/clients/0/scopeCeiling/1'), 'spec.clients[0].scopeCeiling[1]');
    assert.equal(fieldPath('/'), 'spec');
    assert.equal(fieldPath('/spec/a~1b'), 'spec.a/b');
  });

  it('mergeConditions keeps lastTransitionTime while the status holds and keeps foreign conditions', () => {
    const existing = [
      { type: 'Accepted', status: 'True' as const, lastTransitionTime: 'T0', reason: 'Accepted', message: '' },
      { type: 'example.com/Other', status: 'True' as const, lastTransitionTime: 'T0', reason: 'X', message: '' },
    ];
    const same = mergeConditions(existing, [{ type: 'Accepted', status: 'True', reason: 'Accepted', message: 'm' }], 3, 'T1');
    assert.equal(same[0]?.lastTransitionTime, 'T0');
    assert.equal(same[0]?.observedGeneration, 3);
    assert.equal(same[1]?.type, 'example.com/Other');
    const flipped = mergeConditions(existing, [{ type: 'Accepted', status: 'False', reason: 'InvalidSpec', message: 'm' }], 4, 'T2');
    assert.equal(flipped[0]?.lastTransitionTime, 'T2');
  });
});
