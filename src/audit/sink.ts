/**
 * Where audit events go. `write` is called on the request path, so it never waits and never
 * throws: each sink buffers within a fixed bound, and when the bound is reached (disk or pipe too
 * slow) the event is dropped and counted, so that authorization latency does not depend on the
 * audit destination and memory cannot grow without limit. Drops are reported through `onDrop`
 * (wired to the `audit_events_dropped_total` metric) so that operators can alert on them.
 */
import { write } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import type { AuditEvent } from './event.ts';

export interface AuditSink {
  /** Queues one event; never blocks, never throws. */
  write(e: AuditEvent): void;
  /** Resolves once every event written before the call is persisted (or counted as dropped). */
  flush(): Promise<void>;
  /** Flushes, then releases the destination; later writes are dropped. */
  close(): Promise<void>;
}

export type DropCause = 'buffer_full' | 'write_error' | 'closed';
export type DropListener = (cause: DropCause, count: number) => void;

/** Counts drops by cause and forwards them to an optional listener (which must not break us). */
class DropCounter {
  readonly #listener: DropListener | undefined;
  #total = 0;
  constructor(listener: DropListener | undefined) {
    this.#listener = listener;
  }
  add(cause: DropCause, count: number): void {
    if (count <= 0) return;
    this.#total += count;
    try {
      this.#listener?.(cause, count);
    } catch {
      // A failing metric must not fail the request.
    }
  }
  get total(): number {
    return this.#total;
  }
}

function line(e: AuditEvent): string {
  return JSON.stringify(e) + '\n';
}

/** How sinks group events into writes. */
export interface BatchOptions {
  /** A batch is written once it holds this many bytes (UTF-16 code units); default 64 KiB. */
  readonly batchBytes?: number;
  /** …or this long after its first event, whichever comes first; default 20 ms. */
  readonly batchDelayMs?: number;
}

const DEFAULT_BATCH_BYTES = 64 * 1024;
const DEFAULT_BATCH_DELAY_MS = 20;

/**
 * Collects lines and hands them to `emit` as one string per batch: when the batch reaches
 * `batchBytes`, or `batchDelayMs` after its first line, or on `now()`. A decision costs a string
 * push instead of a write; at thousands of checks a second that is the difference between one
 * syscall per event and one per batch, and an event reaches the file at most `batchDelayMs` late.
 */
class LineBatcher {
  readonly #emit: (text: string, count: number) => void;
  readonly #maxBytes: number;
  readonly #delayMs: number;
  #lines: string[] = [];
  #bytes = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(emit: (text: string, count: number) => void, opts: BatchOptions) {
    this.#emit = emit;
    this.#maxBytes = opts.batchBytes ?? DEFAULT_BATCH_BYTES;
    this.#delayMs = opts.batchDelayMs ?? DEFAULT_BATCH_DELAY_MS;
    if (!Number.isInteger(this.#maxBytes) || this.#maxBytes < 1) throw new TypeError('batchBytes must be a positive integer');
    if (!Number.isFinite(this.#delayMs) || this.#delayMs < 0) throw new TypeError('batchDelayMs must be a non-negative number');
  }

  get size(): number {
    return this.#lines.length;
  }

  push(text: string): void {
    this.#lines.push(text);
    this.#bytes += text.length;
    if (this.#bytes >= this.#maxBytes) this.now();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.now(), this.#delayMs);
      // A pending batch must not keep the process alive; shutdown flushes it (close()).
      this.#timer.unref();
    }
  }

  /** Emits the current batch (if any) right away. */
  now(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const lines = this.#lines;
    if (lines.length === 0) return;
    this.#lines = [];
    this.#bytes = 0;
    this.#emit(lines.join(''), lines.length);
  }
}

/** The part of a Node writable stream that StdoutSink uses. */
export interface AuditStream {
  write(chunk: string, callback: (err?: Error | null) => void): unknown;
  /** Bytes queued in the stream and not yet handed to the OS. */
  readonly writableLength: number;
}

export interface StdoutSinkOptions extends BatchOptions {
  /** Default process.stdout. */
  readonly stream?: AuditStream;
  /** Bytes the stream may hold queued before events are dropped; default 8 MiB. */
  readonly maxBufferedBytes?: number;
  readonly onDrop?: DropListener;
}

/** JSON lines on stdout (or any stream), for clusters whose log collector ships audit records. */
export class StdoutSink implements AuditSink {
  readonly #stream: AuditStream;
  readonly #maxBuffered: number;
  readonly #drops: DropCounter;
  readonly #batch: LineBatcher;
  #pending = 0;
  #idleWaiters: Array<() => void> = [];
  #closed = false;

  constructor(opts: StdoutSinkOptions = {}) {
    this.#stream = opts.stream ?? process.stdout;
    this.#maxBuffered = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.#drops = new DropCounter(opts.onDrop);
    this.#batch = new LineBatcher((text, count) => this.#writeOut(text, count), opts);
  }

  write(e: AuditEvent): void {
    if (this.#closed) return this.#drops.add('closed', 1);
    if (this.#stream.writableLength >= this.#maxBuffered) return this.#drops.add('buffer_full', 1);
    let text: string;
    try {
      text = line(e);
    } catch {
      return this.#drops.add('write_error', 1);
    }
    this.#pending++;
    this.#batch.push(text);
  }

  #writeOut(text: string, count: number): void {
    try {
      this.#stream.write(text, (err) => this.#settle(err, count));
    } catch {
      this.#settle(new Error('write failed'), count);
    }
  }

  #settle(err: Error | null | undefined, count: number): void {
    if (err) this.#drops.add('write_error', count);
    this.#pending -= count;
    if (this.#pending === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  /** Hands the current batch to the stream now and resolves when the stream has taken everything. */
  flush(): Promise<void> {
    this.#batch.now();
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.flush();
  }

  /** Events dropped so far. */
  get dropped(): number {
    return this.#drops.total;
  }
}

export interface FileSinkOptions extends BatchOptions {
  /** Events held in memory (batched or being written) before new ones are dropped; default 10 000. */
  readonly maxBufferedEvents?: number;
  readonly onDrop?: DropListener;
}

/**
 * Appends JSON lines to a file (mode 0600, O_APPEND). Events are batched (see LineBatcher) and
 * each batch is one write(2) on the libuv pool; while a write is in flight, finished batches queue
 * behind it in order. Open with {@link FileSink.open} so a bad path fails at start-up, not on the
 * first request.
 */
export class FileSink implements AuditSink {
  readonly #fh: FileHandle;
  readonly #max: number;
  readonly #drops: DropCounter;
  readonly #batch: LineBatcher;
  /** Batches handed over by the batcher and not yet written, oldest first. */
  #ready: Array<{ text: string; count: number }> = [];
  /** Events in #ready and in the write in flight; with the batcher's, they count against the bound. */
  #queued = 0;
  #writing = false;
  /** Sequence numbers: events accepted so far, and events finished (written or dropped). */
  #accepted = 0;
  #finished = 0;
  #waiters: Array<{ target: number; resolve: () => void }> = [];
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(fh: FileHandle, opts: FileSinkOptions) {
    this.#fh = fh;
    this.#max = opts.maxBufferedEvents ?? 10_000;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new TypeError('maxBufferedEvents must be a positive integer');
    this.#drops = new DropCounter(opts.onDrop);
    this.#batch = new LineBatcher((text, count) => this.#enqueue(text, count), opts);
  }

  static async open(path: string, opts: FileSinkOptions = {}): Promise<FileSink> {
    const fh = await open(path, 'a', 0o600);
    try {
      return new FileSink(fh, opts);
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  write(e: AuditEvent): void {
    if (this.#closed) return this.#drops.add('closed', 1);
    if (this.buffered >= this.#max) return this.#drops.add('buffer_full', 1);
    let text: string;
    try {
      text = line(e);
    } catch {
      return this.#drops.add('write_error', 1);
    }
    this.#accepted++;
    this.#batch.push(text);
  }

  #enqueue(text: string, count: number): void {
    this.#ready.push({ text, count });
    this.#queued += count;
    if (!this.#writing) this.#writeNext();
  }

  /** Writes the oldest ready batch; on completion, the next. One write in flight at a time. */
  #writeNext(): void {
    const next = this.#ready.shift();
    if (next === undefined) {
      this.#writing = false;
      return;
    }
    this.#writing = true;
    const done = (err: unknown): void => {
      if (err) this.#drops.add('write_error', next.count);
      this.#queued -= next.count;
      this.#finished += next.count;
      this.#wake();
      this.#writeNext();
    };
    this.#writeAll(Buffer.from(next.text, 'utf8'), 0, done);
  }

  /** write(2) until `buf` from `offset` is written (a regular file may take it in parts). */
  #writeAll(buf: Buffer, offset: number, done: (err: unknown) => void): void {
    // The fd is opened O_APPEND: the position is ignored and other writers do not split our lines.
    write(this.#fh.fd, buf, offset, buf.length - offset, null, (err, written) => {
      if (err) return done(err);
      if (written <= 0) return done(new Error('no progress writing the audit file'));
      if (offset + written >= buf.length) return done(null);
      this.#writeAll(buf, offset + written, done);
    });
  }

  #wake(): void {
    const done = this.#finished;
    const ready = this.#waiters.filter((w) => w.target <= done);
    this.#waiters = this.#waiters.filter((w) => w.target > done);
    for (const w of ready) w.resolve();
  }

  flush(): Promise<void> {
    this.#batch.now();
    const target = this.#accepted;
    if (this.#finished >= target) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ target, resolve }));
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#closed = true;
      await this.flush();
      await this.#fh.close();
    })();
    return this.#closing;
  }

  /** Events dropped so far (buffer full, write errors, after close). */
  get dropped(): number {
    return this.#drops.total;
  }

  /** Events accepted and not yet written (batched, queued or in flight). */
  get buffered(): number {
    return this.#batch.size + this.#queued;
  }
}

/** Keeps events in memory (unbounded): for tests and short-lived CLI runs only. */
export class MemorySink implements AuditSink {
  readonly #events: AuditEvent[] = [];
  #closed = false;

  write(e: AuditEvent): void {
    if (!this.#closed) this.#events.push(e);
  }

  get events(): readonly AuditEvent[] {
    return this.#events;
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  close(): Promise<void> {
    this.#closed = true;
    return Promise.resolve();
  }
}
