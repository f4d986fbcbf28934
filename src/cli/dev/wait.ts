/**
 * Bounded polling for start-up readiness (a port file appearing, /readyz turning 200). Every wait
 * has a deadline and a fixed number of attempts; a stack that does not come up fails with a
 * message saying what it was waiting for instead of hanging a test run or a terminal.
 */
import { setTimeout as delay } from 'node:timers/promises';

export class WaitTimeoutError extends Error {
  readonly code = 'WAIT_TIMEOUT';
  override name = 'WaitTimeoutError';
}

export interface WaitOptions {
  /** What is being waited for, for the error message. */
  readonly what: string;
  readonly timeoutMs: number;
  /** Pause between attempts. Default 50 ms. */
  readonly intervalMs?: number;
  /** Checked between attempts: a reason to give up early (e.g. the child process exited). */
  readonly abortIf?: () => string | undefined;
}

/**
 * Call `probe` until it returns a value other than undefined, at most timeoutMs / intervalMs + 1
 * times. Exceptions from the probe count as "not yet".
 */
export async function waitFor<T>(probe: () => Promise<T | undefined> | T | undefined, opts: WaitOptions): Promise<T> {
  const interval = opts.intervalMs ?? 50;
  const attempts = Math.max(1, Math.ceil(opts.timeoutMs / interval) + 1);
  const deadline = Date.now() + opts.timeoutMs;
  let lastError = '';
  for (let i = 0; i < attempts; i++) {
    const abort = opts.abortIf?.();
    if (abort !== undefined) throw new WaitTimeoutError(`gave up waiting for ${opts.what}: ${abort}`);
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() >= deadline) break;
    await delay(interval);
  }
  throw new WaitTimeoutError(
    `timed out after ${opts.timeoutMs} ms waiting for ${opts.what}${lastError === '' ? '' : ` (last error: ${lastError})`}`,
  );
}

/** GET a loopback URL with a short timeout; the status and body, or undefined on network error. */
export async function probeHttp(url: string, timeoutMs = 1000): Promise<{ status: number; body: string } | undefined> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    return { status: res.status, body: await res.text() };
  } catch {
    return undefined;
  }
}
