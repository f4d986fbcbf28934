/**
 * CPU time of another process, read from /proc/<pid>/stat. The benchmarks compare servers by CPU
 * spent per call rather than by wall-clock throughput, because on a shared 2-core machine the
 * wall clock mostly measures the neighbours; the kernel's per-process accounting does not.
 */
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

/** Clock ticks per second (USER_HZ); 100 on every mainstream Linux build. */
let ticksPerSecond: number | undefined;

export function clockTicksPerSecond(): number {
  if (ticksPerSecond !== undefined) return ticksPerSecond;
  let hz = 100;
  try {
    const out = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    if (Number.isInteger(out) && out > 0) hz = out;
  } catch {
    // getconf missing: keep the Linux default.
  }
  ticksPerSecond = hz;
  return hz;
}

/**
 * utime + stime in ticks from the text of /proc/<pid>/stat. The command name (field 2) is in
 * parentheses and may itself contain spaces or ')', so fields are counted from the last ')'.
 */
export function parseStatTicks(stat: string): number {
  const { user, system } = parseStatSplit(stat);
  return user + system;
}

/** utime and stime (ticks) separately, from the text of /proc/<pid>/stat. */
export function parseStatSplit(stat: string): { user: number; system: number } {
  const close = stat.lastIndexOf(')');
  if (close === -1) throw new Error('unexpected /proc stat format');
  // After ") " come fields 3.. (state, ppid, …); utime and stime are fields 14 and 15.
  const fields = stat.slice(close + 2).trim().split(/\s+/);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('unexpected /proc stat format');
  return { user: utime, system: stime };
}

/** CPU seconds the process has spent in the kernel (stime) so far. */
export function processSystemCpuSeconds(pid: number): number {
  return parseStatSplit(readFileSync(`/proc/${pid}/stat`, 'utf8')).system / clockTicksPerSecond();
}

/** CPU seconds (user + system) the process has used so far. */
export function processCpuSeconds(pid: number): number {
  return parseStatTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')) / clockTicksPerSecond();
}

/**
 * Linux pressure-stall accounting for CPU: total microseconds during which at least one runnable
 * task waited for a CPU (`some … total=` in /proc/pressure/cpu). undefined when the kernel does
 * not expose PSI.
 */
export function parseCpuPressureTotal(text: string): number | undefined {
  const m = /^some\b.*\btotal=(\d+)/m.exec(text);
  return m === null ? undefined : Number(m[1]);
}

/** A stopwatch for CPU contention: start() then pct() = % of wall time something waited for CPU. */
export function cpuPressureMeter(): { pct(): number | undefined } {
  const read = (): number | undefined => {
    try {
      return parseCpuPressureTotal(readFileSync('/proc/pressure/cpu', 'utf8'));
    } catch {
      return undefined;
    }
  };
  const t0 = process.hrtime.bigint();
  const p0 = read();
  return {
    pct() {
      const p1 = read();
      const wallUs = Number(process.hrtime.bigint() - t0) / 1e3;
      return p0 === undefined || p1 === undefined || wallUs <= 0 ? undefined : (100 * (p1 - p0)) / wallUs;
    },
  };
}

/**
 * Runs `main` when the module is the script node was started with. Signals exit through
 * process.exit, so ManagedProcess's exit hook kills every child the run started; a failure
 * prints `<name>: <stack>` and exits 1.
 */
export function runIfMain(moduleUrl: string, name: string, main: () => Promise<void>): void {
  if (moduleUrl !== `file://${process.argv[1]}`) return;
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.once(sig, () => process.exit(130));
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`${name}: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}
