/**
 * Where audit events go. `write` is called on the request path, so it never waits and never
 * throws: each sink buffers within a fixed bound, and when the bound is reached (disk or pipe too
 * slow) the event is dropped and counted, so that authorization latency does not depend on the
 * audit destination and memory cannot grow without limit. Drops are reported through `onDrop`
 * (wired to the `audit_events_dropped_total` metric) so that operators can alert on them.
 */
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

/** The part of a Node writable stream that StdoutSink uses. */
export interface AuditStream {
  write(chunk: string, callback: (err?: Error | null) => void): unknown;
  /** Bytes queued in the stream and not yet handed to the OS. */
  readonly writableLength: number;
}

export interface StdoutSinkOptions {
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
  #pending = 0;
  #batch: string[] = [];
  #idleWaiters: Array<() => void> = [];
  #closed = false;

  constructor(opts: StdoutSinkOptions = {}) {
    this.#stream = opts.stream ?? process.stdout;
    this.#maxBuffered = opts.maxBufferedBytes ?? 8 * 1024 * 1024;
    this.#drops = new DropCounter(opts.onDrop);
  }

  write(e: AuditEvent): void {
    if (this.#closed) return this.#drops.add('closed', 1);
    if (this.#stream.writableLength >= this.#maxBuffered) return this.#drops.add('buffer_full', 1);
    this.#pending++;
    // Events of one event-loop turn go out in one write: one syscall instead of one per decision.
    this.#batch.push(line(e));
    if (this.#batch.length === 1) setImmediate(() => this.#writeBatch());
  }

  #writeBatch(): void {
    const lines = this.#batch;
    this.#batch = [];
    if (lines.length === 0) return;
    try {
      this.#stream.write(lines.join(''), (err) => this.#settle(err, lines.length));
    } catch {
      this.#settle(new Error('write failed'), lines.length);
    }
  }

  #settle(err: Error | null | undefined, count: number): void {
    if (err) this.#drops.add('write_error', count);
    this.#pending -= count;
    if (this.#pending === 0) for (const resolve of this.#idleWaiters.splice(0)) resolve();
  }

  /** Hands the current batch to the stream now and resolves when the stream has taken everything. */
  flush(): Promise<void> {
    this.#writeBatch();
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

export interface FileSinkOptions {
  /** Events held in memory before new ones are dropped; default 10 000. */
  readonly maxBufferedEvents?: number;
  readonly onDrop?: DropListener;
}

/**
 * Appends JSON lines to a file (mode 0600). Writes are batched: events queue in memory and one
 * append per batch hands them to the OS. Open with {@link FileSink.open} so a bad path fails at
 * start-up, not on the first request.
 */
export class FileSink implements AuditSink {
  readonly #fh: FileHandle;
  readonly #max: number;
  readonly #drops: DropCounter;
  #queue: string[] = [];
  /** Events taken from the queue and being written now; they count against the bound. */
  #inflight = 0;
  /** Sequence numbers: events accepted so far, and events finished (written or dropped). */
  #accepted = 0;
  #finished = 0;
  #waiters: Array<{ target: number; resolve: () => void }> = [];
  #draining = false;
  #closed = false;
  #closing: Promise<void> | undefined;

  private constructor(fh: FileHandle, opts: FileSinkOptions) {
    this.#fh = fh;
    this.#max = opts.maxBufferedEvents ?? 10_000;
    if (!Number.isInteger(this.#max) || this.#max < 1) throw new TypeError('maxBufferedEvents must be a positive integer');
    this.#drops = new DropCounter(opts.onDrop);
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
    if (this.#queue.length + this.#inflight >= this.#max) return this.#drops.add('buffer_full', 1);
    let text: string;
    try {
      text = line(e);
    } catch {
      return this.#drops.add('write_error', 1);
    }
    this.#queue.push(text);
    this.#accepted++;
    if (!this.#draining) void this.#drain();
  }

  /** Writes queued batches until the queue is empty; one drain loop runs at a time. */
  async #drain(): Promise<void> {
    this.#draining = true;
    try {
      // Each pass empties the queue; the loop ends as soon as a pass finds nothing new.
      while (this.#queue.length > 0) {
        const batch = this.#queue;
        this.#queue = [];
        this.#inflight = batch.length;
        try {
          await this.#fh.appendFile(batch.join(''));
        } catch {
          this.#drops.add('write_error', batch.length);
        }
        this.#inflight = 0;
        this.#finished += batch.length;
        this.#wake();
      }
    } finally {
      this.#draining = false;
    }
  }

  #wake(): void {
    const done = this.#finished;
    const ready = this.#waiters.filter((w) => w.target <= done);
    this.#waiters = this.#waiters.filter((w) => w.target > done);
    for (const w of ready) w.resolve();
  }

  flush(): Promise<void> {
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

  /** Events waiting to be written. */
  get buffered(): number {
    return this.#queue.length + this.#inflight;
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
