import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LeaderElector } from '../../../src/controller/leader.ts';
import { ManualScheduler } from '../../../src/controller/scheduler.ts';
import { FakeLease } from './fakes.ts';

// leaseDuration 4 s, renewDeadline 3 s (renew every 1.5 s), retryPeriod 500 ms.
const TIMING = { leaseDurationMs: 4000, renewDeadlineMs: 3000, retryPeriodMs: 500 };

function candidate(lease: FakeLease, scheduler: ManualScheduler, identity: string) {
  const log: string[] = [];
  const e = new LeaderElector({
    api: lease,
    identity,
    scheduler,
    ...TIMING,
    onStartedLeading: () => log.push('start'),
    onStoppedLeading: () => log.push('stop'),
  });
  return { e, log };
}

describe('LeaderElector', () => {
  it('creates the Lease when there is none and becomes leader', async () => {
    const lease = new FakeLease();
    const s = new ManualScheduler();
    const a = candidate(lease, s, 'a');
    a.e.start();
    await s.advance(0);
    assert.equal(a.e.isLeader, true);
    assert.deepEqual(a.log, ['start']);
    assert.equal(lease.record?.holderIdentity, 'a');
    assert.equal(lease.record?.leaseDurationSeconds, 4);
  });

  it('renews every renewDeadline/2', async () => {
    const lease = new FakeLease();
    const s = new ManualScheduler();
    const a = candidate(lease, s, 'a');
    a.e.start();
    await s.advance(0);
    const first = lease.record?.renewTime?.getTime() ?? 0;
    await s.advance(1500);
    assert.equal((lease.record?.renewTime?.getTime() ?? 0) - first, 1500);
    await s.advance(1500);
    assert.equal((lease.record?.renewTime?.getTime() ?? 0) - first, 3000);
    assert.equal(lease.record?.leaseTransitions, 0);
  });

  it('a second candidate waits while the leader renews, and takes over once the record stops changing for leaseDuration', async () => {
    const lease = new FakeLease();
    const s = new ManualScheduler();
    const a = candidate(lease, s, 'a');
    const b = candidate(lease, s, 'b');
    a.e.start();
    await s.advance(0);
    b.e.start();
    await s.advance(10_000);
    assert.equal(a.e.isLeader, true);
    assert.equal(b.e.isLeader, false);
    // a crashes: no release.
    await a.e.stop({ release: false });
    const crashedAt = s.now();
    assert.equal(lease.record?.holderIdentity, 'a');
    let takeover = -1;
    for (let i = 0; i < 40 && takeover < 0; i++) {
      await s.advance(250);
      if (b.e.isLeader) takeover = s.now() - crashedAt;
    }
    assert.ok(takeover > 0, 'b took over');
    // b saw a's last renewal at most retryPeriod after it happened, and waits leaseDuration from then.
    assert.ok(takeover <= TIMING.leaseDurationMs + TIMING.retryPeriodMs, `took ${takeover} ms`);
    assert.ok(takeover >= TIMING.leaseDurationMs - 1500, `not before the lease could have expired (${takeover} ms)`);
    assert.equal(lease.record?.holderIdentity, 'b');
    assert.equal(lease.record?.leaseTransitions, 1);
    assert.deepEqual(b.log, ['start']);
  });

  it('releases on a graceful stop so a successor takes over at its next retry', async () => {
    const lease = new FakeLease();
    const s = new ManualScheduler();
    const a = candidate(lease, s, 'a');
    const b = candidate(lease, s, 'b');
    a.e.start();
    await s.advance(0);
    b.e.start();
    await s.advance(1000);
    await a.e.stop({ release: true });
    assert.equal(lease.record?.holderIdentity, '');
    assert.deepEqual(a.log, ['start', 'stop']);
    await s.advance(TIMING.retryPeriodMs);
    assert.equal(b.e.isLeader, true);
  });

  it('steps down when it cannot renew within renewDeadline, before anyone else may take the Lease', async () => {
    const lease = new FakeLease();
    const s = new ManualScheduler();
    const a = candidate(lease, s, 'a');
    a.e.start();
    await s.advance(0);
    const lastRenew = s.now();
    lease.down = true;
    let stoppedAt = -1;
    for (let i = 0; i < 40 && stoppedAt < 0; i++) {
      await s.advance(100);
      if (!a.e.isLeader) stoppedAt = s.now() - lastRenew;
    }
    assert.ok(stoppedAt >= TIMING.renewDeadlineMs && stoppedAt < TIMING.leaseDurationMs, `stepped down after ${stoppedAt} ms`);
    assert.deepEqual(a.log, ['start', 'stop']);
    // The API server comes back: a becomes leader again (its own record).
    lease.down = false;
    await s.advance(1000);
    assert.equal(a.e.isLeader, true);
    assert.deepEqual(a.log, ['start', 'stop', 'start']);
  });

  it('steps down at once when the Lease shows another holder', async () => {
    const lease = new FakeLease();
    const s = new ManualScheduler();
    const a = candidate(lease, s, 'a');
    a.e.start();
    await s.advance(0);
    // Someone (an operator) hands the lease to x.
    lease.record = { ...lease.record!, holderIdentity: 'x', resourceVersion: String(++lease.rv) };
    await s.advance(1500);
    assert.equal(a.e.isLeader, false);
    assert.deepEqual(a.log, ['start', 'stop']);
  });

  it('two candidates racing for a free Lease: exactly one wins (optimistic concurrency)', async () => {
    const lease = new FakeLease();
    lease.record = { holderIdentity: '', leaseDurationSeconds: 4, acquireTime: undefined, renewTime: undefined, leaseTransitions: 3, resourceVersion: '1' };
    lease.rv = 1;
    const s = new ManualScheduler();
    const a = candidate(lease, s, 'a');
    const b = candidate(lease, s, 'b');
    a.e.start();
    b.e.start();
    await s.advance(0);
    assert.equal(Number(a.e.isLeader) + Number(b.e.isLeader), 1);
    await s.advance(10_000);
    assert.equal(Number(a.e.isLeader) + Number(b.e.isLeader), 1);
    assert.equal(lease.record.leaseTransitions, 4);
  });

  it('validates its timing', () => {
    const s = new ManualScheduler();
    const api = new FakeLease();
    assert.throws(() => new LeaderElector({ api, identity: 'a', scheduler: s, leaseDurationMs: 4000, renewDeadlineMs: 4000 }), TypeError);
    assert.throws(() => new LeaderElector({ api, identity: 'a', scheduler: s, leaseDurationMs: 4500 }), TypeError);
    assert.throws(() => new LeaderElector({ api, identity: '', scheduler: s }), TypeError);
  });
});
