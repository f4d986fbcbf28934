import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { backoffDelay } from '../../../src/controller/backoff.ts';
import { WorkQueue } from '../../../src/controller/queue.ts';
import { ManualScheduler, settle } from '../../../src/controller/scheduler.ts';

const BACKOFF = { baseMs: 100, maxMs: 1000, jitter: 0 };

/** A handler whose calls stay pending until the test releases them. */
function gate() {
  const calls: string[] = [];
  const pending: Array<{ key: string; resolve: () => void; reject: (e: Error) => void }> = [];
  const fn = (key: string) =>
    new Promise<void>((resolve, reject) => {
      calls.push(key);
      pending.push({ key, resolve, reject });
    });
  const release = async (key: string, fail = false) => {
    const i = pending.findIndex((p) => p.key === key);
    assert.ok(i >= 0, `no pending call for ${key}`);
    const [p] = pending.splice(i, 1);
    if (fail) p?.reject(new Error('failed'));
    else p?.resolve();
    await settle();
  };
  return { calls, pending, fn, release };
}

describe('backoffDelay', () => {
  it('doubles from the base and stops at the cap', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 50].map((n) => backoffDelay(n, BACKOFF)), [100, 200, 400, 800, 1000, 1000]);
    assert.throws(() => backoffDelay(0, BACKOFF), TypeError);
  });

  it('stays within [0, max] and within the jitter band, for any failure count and random value', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.double({ min: 0, max: 0.9999, noNaN: true }), (n, r) => {
        const policy = { baseMs: 50, maxMs: 5000, jitter: 0.2 };
        const d = backoffDelay(n, policy, () => r);
        const raw = Math.min(5000, 50 * 2 ** Math.min(n - 1, 30));
        return d >= 0 && d <= 5000 && d >= Math.floor(raw * 0.8) && d <= Math.ceil(raw * 1.2);
      }),
    );
  });
});

describe('WorkQueue', () => {
  it('de-duplicates keys that wait', async () => {
    const q = new WorkQueue({ scheduler: new ManualScheduler(), workers: 1 });
    const g = gate();
    q.add('a');
    q.add('b');
    q.add('b');
    q.add('a');
    q.start(g.fn);
    await settle();
    assert.deepEqual(g.calls, ['a']);
    assert.equal(q.length, 1);
    await g.release('a');
    await g.release('b');
    assert.deepEqual(g.calls, ['a', 'b']);
    assert.equal(q.length, 0);
  });

  it('never runs one key twice at once; an add during processing re-runs it afterwards', async () => {
    const q = new WorkQueue({ scheduler: new ManualScheduler(), workers: 4 });
    const g = gate();
    q.start(g.fn);
    q.add('a');
    await settle();
    q.add('a');
    q.add('a');
    await settle();
    assert.deepEqual(g.calls, ['a'], 'second run waits for the first');
    await g.release('a');
    assert.deepEqual(g.calls, ['a', 'a'], 'one re-run for any number of adds');
    await g.release('a');
    assert.equal(g.pending.length, 0);
  });

  it('runs different keys in parallel up to the worker count', async () => {
    const q = new WorkQueue({ scheduler: new ManualScheduler(), workers: 2 });
    const g = gate();
    q.start(g.fn);
    for (const k of ['a', 'b', 'c']) q.add(k);
    await settle();
    assert.deepEqual(g.calls, ['a', 'b']);
    assert.equal(q.inFlight, 2);
    await g.release('b');
    assert.deepEqual(g.calls, ['a', 'b', 'c']);
    await g.release('a');
    await g.release('c');
  });

  it('retries a failing key with per-key exponential backoff and forgets after a success', async () => {
    const scheduler = new ManualScheduler();
    const q = new WorkQueue({ scheduler, workers: 1, backoff: BACKOFF });
    const g = gate();
    q.start(g.fn);
    q.add('a');
    await settle();
    await g.release('a', true);
    assert.equal(q.failures('a'), 1);
    assert.equal(q.delayed, 1);
    await scheduler.advance(99);
    assert.equal(g.calls.length, 1, 'not before 100 ms');
    await scheduler.advance(1);
    assert.equal(g.calls.length, 2);
    await g.release('a', true);
    await scheduler.advance(199);
    assert.equal(g.calls.length, 2, 'second retry after 200 ms');
    await scheduler.advance(1);
    assert.equal(g.calls.length, 3);
    await g.release('a');
    assert.equal(q.failures('a'), 0);
    assert.equal(q.delayed, 0);
  });

  it('an explicit add replaces a pending delayed retry', async () => {
    const scheduler = new ManualScheduler();
    const q = new WorkQueue({ scheduler, workers: 1, backoff: BACKOFF });
    const g = gate();
    q.start(g.fn);
    q.addAfter('a', 5000);
    assert.equal(q.delayed, 1);
    q.add('a');
    await settle();
    assert.equal(q.delayed, 0);
    assert.deepEqual(g.calls, ['a']);
    await g.release('a');
    await scheduler.advance(10_000);
    assert.deepEqual(g.calls, ['a'], 'the cancelled delayed add never fires');
  });

  it('a numeric result schedules the key again after that delay', async () => {
    const scheduler = new ManualScheduler();
    const q = new WorkQueue({ scheduler, workers: 1 });
    const calls: number[] = [];
    q.start(async () => {
      calls.push(scheduler.now());
      return calls.length < 3 ? 1000 : undefined;
    });
    q.add('a');
    await scheduler.advance(5000);
    assert.equal(calls.length, 3);
    assert.equal(calls[1]! - calls[0]!, 1000);
  });

  it('shutdown stops intake, drops delayed retries, drains queued and in-flight work', async () => {
    const scheduler = new ManualScheduler();
    const q = new WorkQueue({ scheduler, workers: 1 });
    const g = gate();
    q.start(g.fn);
    q.add('a');
    q.add('b');
    q.addAfter('c', 1000);
    await settle();
    let done = false;
    const stopping = q.shutdown().then(() => (done = true));
    q.add('d');
    await settle();
    assert.equal(done, false);
    await g.release('a');
    assert.equal(done, false, 'b is still queued');
    await g.release('b');
    await stopping;
    assert.equal(done, true);
    assert.deepEqual(g.calls, ['a', 'b']);
    await scheduler.advance(2000);
    assert.deepEqual(g.calls, ['a', 'b'], 'c (delayed) and d (after shutdown) never run');
  });

  it('does not retry failures during shutdown', async () => {
    const q = new WorkQueue({ scheduler: new ManualScheduler(), workers: 1 });
    const g = gate();
    q.start(g.fn);
    q.add('a');
    await settle();
    const stopping = q.shutdown();
    await g.release('a', true);
    await stopping;
    assert.equal(q.delayed, 0);
  });

  it('shutdown of an idle or unstarted queue resolves at once', async () => {
    await new WorkQueue({ scheduler: new ManualScheduler() }).shutdown();
    const q = new WorkQueue({ scheduler: new ManualScheduler(), workers: 3 });
    q.start(async () => {});
    await q.shutdown();
    assert.throws(() => q.start(async () => {}), TypeError);
  });

  it('rejects a bad worker count', () => {
    assert.throws(() => new WorkQueue({ scheduler: new ManualScheduler(), workers: 0 }), TypeError);
  });
});
