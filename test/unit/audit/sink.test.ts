import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../../../src/audit/event.ts';
import { FileSink, MemorySink, StdoutSink } from '../../../src/audit/sink.ts';
import type { AuditStream, DropCause } from '../../../src/audit/sink.ts';

function event(n: number): AuditEvent {
  return {
    time: '2026-01-01T00:00:00.000Z',
    requestId: `req-${n}`,
    decision: 'deny',
    reason: 'token_expired',
    phase: 'authenticate',
    rule: '',
    status: 401,
    method: 'GET',
    patients: [],
    breakGlass: { used: false },
  };
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'fhirgate-audit-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function dropRecorder(): { drops: Array<[DropCause, number]>; onDrop: (c: DropCause, n: number) => void } {
  const drops: Array<[DropCause, number]> = [];
  return { drops, onDrop: (c, n) => void drops.push([c, n]) };
}

test('FileSink appends one JSON line per event, in order, to a 0600 file', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'audit.jsonl');
    const sink = await FileSink.open(path);
    for (let i = 0; i < 25; i++) sink.write(event(i));
    await sink.flush();
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    assert.equal(lines.length, 25);
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as AuditEvent).requestId), Array.from({ length: 25 }, (_, i) => `req-${i}`));
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    sink.write(event(99));
    await sink.close();
    assert.equal((await readFile(path, 'utf8')).trimEnd().split('\n').length, 26);
    assert.equal(sink.dropped, 0);
  });
});

test('FileSink appends to an existing file instead of truncating it', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'audit.jsonl');
    const first = await FileSink.open(path);
    first.write(event(1));
    await first.close();
    const second = await FileSink.open(path);
    second.write(event(2));
    await second.close();
    assert.equal((await readFile(path, 'utf8')).trimEnd().split('\n').length, 2);
  });
});

test('FileSink drops and counts events once the buffer is full, without blocking', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'audit.jsonl');
    const rec = dropRecorder();
    const sink = await FileSink.open(path, { maxBufferedEvents: 2, onDrop: rec.onDrop });
    // All writes happen before anything is written: 2 fit (batched), 3 drop.
    for (let i = 0; i < 5; i++) sink.write(event(i));
    assert.equal(sink.dropped, 3);
    assert.equal(sink.buffered, 2);
    assert.deepEqual(rec.drops, [['buffer_full', 1], ['buffer_full', 1], ['buffer_full', 1]]);
    await sink.flush();
    assert.equal(sink.buffered, 0);
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as AuditEvent).requestId), ['req-0', 'req-1']);
    // Room again once written.
    sink.write(event(5));
    await sink.close();
    assert.equal((await readFile(path, 'utf8')).trimEnd().split('\n').length, 3);
  });
});

test('FileSink counts writes after close as dropped', async () => {
  await withTempDir(async (dir) => {
    const rec = dropRecorder();
    const sink = await FileSink.open(join(dir, 'a.jsonl'), { onDrop: rec.onDrop });
    await sink.close();
    await sink.close();
    sink.write(event(1));
    assert.equal(sink.dropped, 1);
    assert.deepEqual(rec.drops, [['closed', 1]]);
  });
});

test('FileSink counts failed appends as write errors and keeps going', { skip: !existsSync('/dev/full') && 'no /dev/full' }, async () => {
  const rec = dropRecorder();
  const sink = await FileSink.open('/dev/full', { onDrop: rec.onDrop });
  sink.write(event(1));
  sink.write(event(2));
  await sink.flush();
  sink.write(event(3));
  await sink.close();
  assert.equal(sink.dropped, 3);
  assert.ok(rec.drops.every(([cause]) => cause === 'write_error'));
  assert.equal(rec.drops.reduce((n, [, c]) => n + c, 0), 3);
});

test('FileSink.open fails at start-up for a path it cannot open', async () => {
  await withTempDir(async (dir) => {
    await assert.rejects(FileSink.open(join(dir, 'no-such-dir', 'audit.jsonl')), /ENOENT/);
  });
});

test('a throwing drop listener does not break writes', async () => {
  await withTempDir(async (dir) => {
    const sink = await FileSink.open(join(dir, 'a.jsonl'), {
      maxBufferedEvents: 1,
      onDrop: () => {
        throw new Error('metrics broke');
      },
    });
    sink.write(event(1));
    assert.doesNotThrow(() => sink.write(event(2)));
    assert.equal(sink.dropped, 1);
    await sink.close();
  });
});

/** A stream whose write callbacks the test completes by hand. */
function manualStream(): AuditStream & { chunks: string[]; complete: (err?: Error) => void; writableLength: number } {
  const callbacks: Array<(err?: Error | null) => void> = [];
  const s = {
    chunks: [] as string[],
    writableLength: 0,
    write(chunk: string, cb: (err?: Error | null) => void) {
      s.chunks.push(chunk);
      callbacks.push(cb);
      return true;
    },
    complete(err?: Error) {
      callbacks.shift()?.(err ?? null);
    },
  };
  return s;
}

test('StdoutSink writes a batch of JSON lines in one write; flush waits for the stream', async () => {
  const stream = manualStream();
  const sink = new StdoutSink({ stream });
  sink.write(event(1));
  sink.write(event(2));
  assert.equal(stream.chunks.length, 0, 'batched until the batch is due (or flush)');
  let flushed = false;
  const f = sink.flush().then(() => {
    flushed = true;
  });
  assert.equal(stream.chunks.length, 1);
  const lines = (stream.chunks[0] ?? '').split('\n');
  assert.equal(lines.pop(), '');
  assert.deepEqual(lines.map((c) => (JSON.parse(c) as AuditEvent).requestId), ['req-1', 'req-2']);
  await Promise.resolve();
  assert.equal(flushed, false);
  stream.complete();
  await f;
  assert.equal(flushed, true);
});

test('StdoutSink writes a batch by itself batchDelayMs after its first event', async () => {
  const stream = manualStream();
  const sink = new StdoutSink({ stream, batchDelayMs: 5 });
  sink.write(event(1));
  await new Promise((r) => setImmediate(r));
  assert.equal(stream.chunks.length, 0, 'not before the delay');
  await new Promise((r) => setTimeout(r, 30));
  sink.write(event(2));
  assert.equal(stream.chunks.length, 1, 'the first batch went out on its timer; the second waits for its own');
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(stream.chunks.length, 2);
  stream.complete();
  stream.complete();
  await sink.close();
});

test('StdoutSink writes a batch as soon as it reaches batchBytes', () => {
  const stream = manualStream();
  const one = JSON.stringify(event(1)).length + 1;
  const sink = new StdoutSink({ stream, batchBytes: one * 3, batchDelayMs: 60_000 });
  sink.write(event(1));
  sink.write(event(2));
  assert.equal(stream.chunks.length, 0);
  sink.write(event(3));
  assert.equal(stream.chunks.length, 1, 'full batch written at once, without waiting for the timer');
  assert.equal((stream.chunks[0] ?? '').split('\n').length, 4);
  stream.complete();
});

test('FileSink writes batches by itself (size or delay), in order, and flush waits for the write', async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, 'audit.jsonl');
    const sink = await FileSink.open(path, { batchDelayMs: 5, batchBytes: 4096 });
    for (let i = 0; i < 200; i++) sink.write(event(i));
    assert.ok(sink.buffered > 0);
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(sink.buffered, 0, 'every batch written without a flush');
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    assert.deepEqual(lines.map((l) => (JSON.parse(l) as AuditEvent).requestId), Array.from({ length: 200 }, (_, i) => `req-${i}`));
    await sink.close();
  });
});

test('LineBatcher options are checked', () => {
  assert.throws(() => new StdoutSink({ stream: manualStream(), batchBytes: 0 }), /batchBytes/);
  assert.throws(() => new StdoutSink({ stream: manualStream(), batchDelayMs: -1 }), /batchDelayMs/);
});

test('StdoutSink drops and counts when the stream is backed up, and on write errors', async () => {
  const stream = manualStream();
  const rec = dropRecorder();
  const sink = new StdoutSink({ stream, maxBufferedBytes: 1000, onDrop: rec.onDrop });
  stream.writableLength = 1000;
  sink.write(event(1));
  assert.equal(stream.chunks.length, 0);
  stream.writableLength = 0;
  sink.write(event(2));
  const closing = sink.close();
  stream.complete(new Error('EPIPE'));
  await closing;
  sink.write(event(3));
  assert.deepEqual(rec.drops, [['buffer_full', 1], ['write_error', 1], ['closed', 1]]);
  assert.equal(sink.dropped, 3);
});

test('MemorySink keeps events until closed', async () => {
  const sink = new MemorySink();
  sink.write(event(1));
  await sink.flush();
  assert.deepEqual(sink.events.map((e) => e.requestId), ['req-1']);
  await sink.close();
  sink.write(event(2));
  assert.equal(sink.events.length, 1);
});
