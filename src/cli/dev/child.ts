/**
 * A child process the dev stack started (fhirgate-authz, Envoy): its output kept in a bounded
 * buffer for diagnostics, signals for the fault-injection tests (SIGKILL, SIGSTOP/SIGCONT), and
 * a stop that always ends with the process gone. Every live child is also killed when this
 * process exits for any reason, so neither a crashed test run nor a closed terminal leaves an
 * Envoy or a sidecar behind.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface SpawnOptions {
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Called for each line on stdout/stderr. */
  readonly onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** Lines of output kept for diagnostics. Default 200. */
  readonly keepLines?: number;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of live) {
      try {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}

export class ManagedProcess {
  readonly name: string;
  readonly exited: Promise<ExitStatus>;
  readonly #child: ChildProcess;
  readonly #lines: string[] = [];
  readonly #keep: number;
  #status: ExitStatus | undefined;

  private constructor(name: string, child: ChildProcess, opts: SpawnOptions) {
    this.name = name;
    this.#child = child;
    this.#keep = opts.keepLines ?? 200;
    live.add(child);
    this.exited = new Promise<ExitStatus>((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        this.#status = { code, signal };
        resolve(this.#status);
      });
      child.once('error', (err) => {
        live.delete(child);
        this.#push(`spawn error: ${err.message}`);
        this.#status = { code: -1, signal: null };
        resolve(this.#status);
      });
    });
    for (const [stream, src] of [['stdout', child.stdout], ['stderr', child.stderr]] as const) {
      if (src === null) continue;
      createInterface({ input: src, crlfDelay: Infinity }).on('line', (line) => {
        this.#push(line);
        opts.onLine?.(line, stream);
      });
    }
  }

  static spawn(name: string, command: string, args: readonly string[], opts: SpawnOptions = {}): ManagedProcess {
    installExitHook();
    const child = spawn(command, [...args], {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group: a terminal's Ctrl-C reaches only the parent, which then stops the
      // children in order (Envoy before the sidecar) instead of racing them.
      detached: true,
    });
    return new ManagedProcess(name, child, opts);
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** Undefined while running; the exit status once it ended. */
  get exitStatus(): ExitStatus | undefined {
    return this.#status;
  }

  /** The last lines of combined output. */
  output(): string {
    return this.#lines.join('\n');
  }

  /** Send a signal (SIGKILL, SIGSTOP, SIGCONT…); false when the process is gone. */
  signal(sig: NodeJS.Signals): boolean {
    if (this.#status !== undefined) return false;
    try {
      return this.#child.kill(sig);
    } catch {
      return false;
    }
  }

  /**
   * Stop the process: SIGCONT (in case a test stopped it), SIGTERM, then SIGKILL if it has not
   * exited within graceMs. Resolves once it has exited.
   */
  async stop(graceMs = 3000): Promise<ExitStatus> {
    if (this.#status !== undefined) return this.#status;
    this.signal('SIGCONT');
    this.signal('SIGTERM');
    const cancel = new AbortController();
    const timer = delay(graceMs, 'timeout' as const, { signal: cancel.signal }).catch(() => 'cancelled' as const);
    const first = await Promise.race([this.exited, timer]);
    cancel.abort();
    if (first === 'timeout') this.signal('SIGKILL');
    return this.exited;
  }

  #push(line: string): void {
    this.#lines.push(line);
    if (this.#lines.length > this.#keep) this.#lines.shift();
  }
}
