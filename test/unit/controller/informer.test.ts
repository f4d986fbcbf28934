import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Informer, objectKey, statusCodeOf } from '../../../src/controller/informer.ts';
import { ManualScheduler } from '../../../src/controller/scheduler.ts';
import type { CachedObject } from '../../../src/controller/reconcile.ts';
import { ApiError, FakeSource } from './fakes.ts';

const BACKOFF = { baseMs: 100, maxMs: 1000, jitter: 0 };

function setup() {
  const source = new FakeSource();
  const scheduler = new ManualScheduler();
  const log: string[] = [];
  const informer = new Informer<CachedObject>({
    name: 'test',
    source,
    scheduler,
    backoff: BACKOFF,
    minWatchMs: 500,
    handlers: {
      onAdd: (o) => log.push(`add ${objectKey(o)}`),
      onUpdate: (_o, n) => log.push(`update ${objectKey(n)}`),
      onDelete: (o) => log.push(`delete ${objectKey(o)}`),
    },
  });
  return { source, scheduler, log, informer };
}

describe('Informer', () => {
  it('lists, fills the cache, reports synced and watches from the list resourceVersion', async () => {
    const { source, scheduler, log, informer } = setup();
    source.objects.set('a/x', { metadata: { name: 'x', namespace: 'a', resourceVersion: '7' } });
    assert.equal(informer.hasSynced(), false);
    informer.start();
    await scheduler.advance(0);
    assert.equal(informer.hasSynced(), true);
    assert.deepEqual(log, ['add a/x']);
    assert.deepEqual(source.watchCalls, ['100']);
    assert.equal(informer.state, 'watching');
    assert.equal(informer.get('a', 'x')?.metadata?.resourceVersion, '7');
  });

  it('applies ADDED/MODIFIED/DELETED/BOOKMARK events and tracks the resourceVersion', async () => {
    const { source, scheduler, log, informer } = setup();
    informer.start();
    await scheduler.advance(0);
    source.apply('ns', 'p', { v: 1 });
    source.apply('ns', 'p', { v: 2 });
    source.emit('BOOKMARK', { metadata: { resourceVersion: '555' } });
    assert.equal(informer.resourceVersion, '555');
    source.remove('ns', 'p');
    assert.deepEqual(log, ['add ns/p', 'update ns/p', 'delete ns/p']);
    assert.equal(informer.get('ns', 'p'), undefined);
    assert.equal(informer.resourceVersion, String(source.rv));
  });

  it('ignores events for objects without a name and unknown event types', async () => {
    const { source, scheduler, log, informer } = setup();
    informer.start();
    await scheduler.advance(0);
    source.emit('ADDED', { metadata: { namespace: 'a' } });
    source.emit('WEIRD', { metadata: { name: 'n', namespace: 'a', resourceVersion: '9' } });
    source.emit('ADDED', null);
    assert.deepEqual(log, []);
    assert.equal(informer.list().length, 0);
  });

  it('re-watches from the last resourceVersion at once when a watch ends cleanly', async () => {
    const { source, scheduler, informer } = setup();
    informer.start();
    await scheduler.advance(0);
    source.apply('ns', 'p', { v: 1 });
    await scheduler.advance(1000);
    source.end();
    await scheduler.advance(0);
    assert.deepEqual(source.watchCalls, ['100', '101']);
    assert.equal(source.listCalls, 1, 'no relist for a clean end');
    assert.equal(informer.restarts, 0);
  });

  it('treats an immediate empty clean end as a failure (no hot loop)', async () => {
    const { source, scheduler, informer } = setup();
    informer.start();
    await scheduler.advance(0);
    source.end();
    await scheduler.advance(0);
    assert.equal(informer.state, 'waiting');
    assert.equal(source.watchCalls.length, 1);
    await scheduler.advance(100);
    assert.equal(source.watchCalls.length, 2);
  });

  it('on a watch error waits with growing backoff, then re-watches from the last RV without relisting', async () => {
    const { source, scheduler, informer } = setup();
    informer.start();
    await scheduler.advance(0);
    source.apply('ns', 'p', { v: 1 });
    source.watchFailures.push(new ApiError(500), new ApiError(500));
    source.end(new Error('connection reset'));
    await scheduler.advance(0);
    assert.equal(informer.state, 'waiting');
    assert.equal(scheduler.nextDelay(), 100);
    await scheduler.advance(100); // first retry fails (500) → 200 ms
    assert.equal(scheduler.nextDelay(), 200);
    await scheduler.advance(200); // second retry fails → 400 ms
    assert.equal(scheduler.nextDelay(), 400);
    await scheduler.advance(400); // third retry succeeds
    assert.equal(informer.state, 'watching');
    assert.deepEqual(source.watchCalls, ['100', '101', '101', '101']);
    assert.equal(source.listCalls, 1);
    assert.equal(informer.restarts, 3);
  });

  it('caps the backoff', async () => {
    const { source, scheduler, informer } = setup();
    for (let i = 0; i < 8; i++) source.listFailures.push(new ApiError(503));
    informer.start();
    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      await scheduler.advance(0);
      delays.push(scheduler.nextDelay() ?? -1);
      await scheduler.advance(scheduler.nextDelay() ?? 0);
    }
    assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);
    assert.equal(informer.hasSynced(), true, 'the ninth list succeeds');
  });

  it('relists on an ERROR event with code 410 and reports objects deleted meanwhile', async () => {
    const { source, scheduler, log, informer } = setup();
    source.objects.set('ns/a', { metadata: { name: 'a', namespace: 'ns', resourceVersion: '1' } });
    source.objects.set('ns/b', { metadata: { name: 'b', namespace: 'ns', resourceVersion: '2' } });
    informer.start();
    await scheduler.advance(0);
    // While "disconnected", b is deleted and a changes.
    source.objects.delete('ns/b');
    source.objects.set('ns/a', { metadata: { name: 'a', namespace: 'ns', resourceVersion: '300' } });
    source.rv = 300;
    source.emit('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    await scheduler.advance(0);
    assert.equal(source.listCalls, 2);
    assert.deepEqual(log, ['add ns/a', 'add ns/b', 'update ns/a', 'delete ns/b']);
    assert.deepEqual(source.watchCalls, ['100', '300']);
    assert.equal(source.watchers[0]?.stopped, true, 'the expired watch is stopped');
  });

  it('relists when the watch request itself answers 410 Gone', async () => {
    const { source, scheduler, informer } = setup();
    informer.start();
    await scheduler.advance(0);
    source.watchFailures.push(new ApiError(410, 'Gone'));
    source.end(new Error('reset'));
    await scheduler.advance(100);
    assert.equal(source.listCalls, 2);
    assert.equal(informer.state, 'watching');
  });

  it('relists when the stream ends with a 410 status error', async () => {
    const { source, scheduler, informer } = setup();
    informer.start();
    await scheduler.advance(0);
    source.end(Object.assign(new Error('Gone'), { statusCode: 410 }));
    await scheduler.advance(0);
    assert.equal(source.listCalls, 2);
  });

  it('treats a non-410 ERROR event as an error and resumes from the last RV', async () => {
    const { source, scheduler, informer } = setup();
    informer.start();
    await scheduler.advance(0);
    source.emit('ERROR', { kind: 'Status', code: 500, message: 'internal' });
    await scheduler.advance(0);
    assert.equal(informer.state, 'waiting');
    await scheduler.advance(100);
    assert.deepEqual(source.watchCalls, ['100', '100']);
    assert.equal(source.listCalls, 1);
  });

  it('keeps going when a handler throws', async () => {
    const source = new FakeSource();
    const scheduler = new ManualScheduler();
    const informer = new Informer<CachedObject>({
      name: 't',
      source,
      scheduler,
      handlers: {
        onAdd: () => {
          throw new Error('boom');
        },
      },
    });
    informer.start();
    await scheduler.advance(0);
    source.apply('ns', 'a', {});
    source.apply('ns', 'b', {});
    assert.equal(informer.list().length, 2);
  });

  it('stop() cancels a pending retry and ignores late callbacks', async () => {
    const { source, scheduler, informer } = setup();
    source.listFailures.push(new ApiError(503));
    informer.start();
    await scheduler.advance(0);
    assert.equal(scheduler.pendingCount, 1);
    informer.stop();
    assert.equal(scheduler.pendingCount, 0);
    await scheduler.advance(10_000);
    assert.equal(source.listCalls, 1);
    assert.equal(informer.state, 'stopped');
    assert.throws(() => informer.start(), TypeError);
  });

  it('statusCodeOf reads statusCode and numeric code only', () => {
    assert.equal(statusCodeOf({ statusCode: 410 }), 410);
    assert.equal(statusCodeOf({ code: 409 }), 409);
    assert.equal(statusCodeOf({ code: 'ECONNRESET' }), undefined);
    assert.equal(statusCodeOf(null), undefined);
  });
});
