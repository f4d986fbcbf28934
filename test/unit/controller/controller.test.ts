import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Controller, parseQueueKey, queueKey, relevantChange } from '../../../src/controller/controller.ts';
import { ManualScheduler } from '../../../src/controller/scheduler.ts';
import { condition, FakeCluster } from './fakes.ts';

const POLICY = { fhirBasePath: '/fhir' };
const TIMING = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 };

function setup(identity = 'a', cluster = new FakeCluster(), scheduler = new ManualScheduler()) {
  const c = new Controller({
    apis: cluster.apis(),
    identity,
    scheduler,
    ...TIMING,
    defaultMetrics: false,
    queueBackoff: { baseMs: 100, maxMs: 1000, jitter: 0 },
    informerBackoff: { baseMs: 100, maxMs: 1000, jitter: 0 },
  });
  return { c, cluster, scheduler };
}

describe('Controller', () => {
  it('reconciles every kind into desired state and writes status once (no hot loop on its own status writes)', async () => {
    const { c, cluster, scheduler } = setup();
    cluster.of('FhirAccessPolicy').apply('ehr', 'p', POLICY);
    cluster.of('TrustedIssuer').apply('ehr', 'i', { issuer: 'https://idp', audiences: ['fhir'] });
    cluster.of('SmartClient').apply('ehr', 'c', { clientId: 'app', scopeCeiling: ['patient/*.rs'] });
    cluster.of('TokenRevocation').apply('ehr', 'r', { jtis: ['j'], reason: 'x' });
    c.start();
    await scheduler.advance(100);
    assert.equal(c.hasSynced(), true);
    assert.equal(c.isLeader, true);
    const content = c.desired.content('ehr');
    assert.equal(content.policies.length, 1);
    assert.equal(content.issuers.length, 1);
    assert.equal(content.clients[0]?.clientId, 'app');
    assert.deepEqual(content.revocations.jtis, ['j']);
    const writesAfterSettle = cluster.statusWrites.length;
    assert.equal(writesAfterSettle, 4, 'one status write per object');
    await scheduler.advance(5000);
    assert.equal(cluster.statusWrites.length, writesAfterSettle, 'status echoes through the watch do not cause writes');
    assert.equal(condition(cluster.of('FhirAccessPolicy').objects.get('ehr/p'), 'Ready')?.status, 'True');
    const metrics = await c.metrics.registry.metrics();
    assert.match(metrics, /fhirgate_controller_reconcile_total\{kind="FhirAccessPolicy",result="accepted"\} [1-9]/);
    assert.match(metrics, /fhirgate_controller_leader 1/);
    await c.stop();
    assert.equal(cluster.lease.record?.holderIdentity, '', 'lease released on stop');
  });

  it('keeps the last accepted policy when an update is rejected and records a Warning event', async () => {
    const { c, cluster, scheduler } = setup();
    const src = cluster.of('FhirAccessPolicy');
    src.apply('ehr', 'p', POLICY);
    c.start();
    await scheduler.advance(100);
    src.apply('ehr', 'p', { fhirBasePath: '/fhir', search: { requiredParams: [{ resourceType: 'Gadget', anyOf: ['x'] }] } });
    await scheduler.advance(100);
    assert.deepEqual((c.desired.get('FhirAccessPolicy', 'ehr', 'p') as { spec: unknown }).spec, POLICY);
    assert.equal(condition(src.objects.get('ehr/p'), 'Accepted')?.status, 'False');
    assert.equal(cluster.events.length, 1);
    assert.equal(cluster.events[0]?.reason, 'PolicyRejected');
    src.remove('ehr', 'p');
    await scheduler.advance(100);
    assert.equal(c.desired.get('FhirAccessPolicy', 'ehr', 'p'), undefined);
    await c.stop();
  });

  it('retries status writes with backoff while the API server refuses them, then catches up', async () => {
    const { c, cluster, scheduler } = setup();
    cluster.statusDown = true;
    cluster.of('FhirAccessPolicy').apply('ehr', 'p', POLICY);
    c.start();
    await scheduler.advance(1000);
    assert.notEqual(c.desired.get('FhirAccessPolicy', 'ehr', 'p'), undefined, 'desired does not wait for status');
    assert.equal(cluster.statusWrites.length, 0);
    cluster.statusDown = false;
    await scheduler.advance(2000);
    assert.equal(condition(cluster.of('FhirAccessPolicy').objects.get('ehr/p'), 'Accepted')?.status, 'True');
    await c.stop();
  });

  it('only the leader writes status; the follower still builds the desired state; the follower takes over after a crash', async () => {
    const cluster = new FakeCluster();
    const scheduler = new ManualScheduler();
    const a = setup('a', cluster, scheduler).c;
    a.start();
    await scheduler.advance(100);
    const b = setup('b', cluster, scheduler).c;
    b.start();
    await scheduler.advance(100);
    cluster.of('FhirAccessPolicy').apply('ehr', 'p', POLICY);
    await scheduler.advance(100);
    assert.equal(a.isLeader, true);
    assert.equal(b.isLeader, false);
    assert.notEqual(b.desired.get('FhirAccessPolicy', 'ehr', 'p'), undefined);
    assert.equal(cluster.statusWrites.length, 1);
    await a.stop({ release: false });
    // A status write is lost while nobody leads: the new leader re-queues everything and fixes it.
    const src = cluster.of('FhirAccessPolicy');
    const wiped = { ...src.objects.get('ehr/p')!, status: {} };
    wiped.metadata = { ...wiped.metadata, resourceVersion: String(++src.rv) };
    src.objects.set('ehr/p', wiped);
    src.emit('MODIFIED', wiped);
    await scheduler.advance(100);
    assert.equal(cluster.statusWrites.length, 1, 'a status-only change does not trigger a reconcile');
    for (let i = 0; i < 40 && !b.isLeader; i++) await scheduler.advance(250);
    assert.equal(b.isLeader, true);
    await scheduler.advance(100);
    assert.equal(cluster.statusWrites.length, 2);
    await b.stop();
  });

  it('re-reconciles a SmartClient when its quarantine (status) changes, not on other status changes', () => {
    const base = { metadata: { name: 'c', namespace: 'n', generation: 1, uid: 'u' }, spec: {} };
    assert.equal(relevantChange('SmartClient', { ...base, status: {} }, { ...base, status: { quarantined: true } }), true);
    assert.equal(relevantChange('FhirAccessPolicy', { ...base, status: {} }, { ...base, status: { observedGeneration: 1 } }), false);
    assert.equal(relevantChange('FhirAccessPolicy', base, { ...base, metadata: { ...base.metadata, generation: 2 } }), true);
  });

  it('queue keys round-trip and malformed ones are refused', () => {
    assert.deepEqual(parseQueueKey(queueKey('TrustedIssuer', 'ns', 'x')), { kind: 'TrustedIssuer', namespace: 'ns', name: 'x' });
    assert.equal(parseQueueKey('Pod/ns/x'), undefined);
    assert.equal(parseQueueKey('TrustedIssuer/ns'), undefined);
    assert.equal(parseQueueKey('TrustedIssuer/ns/x/y'), undefined);
  });
});
