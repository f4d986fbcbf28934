/**
 * Finding and running the external tools of a benchmark: the Go load generators (built by
 * scripts/go-tools.sh into the per-version cache) and CPU pinning with taskset. Every run has a
 * hard timeout so a wedged tool cannot hang `make bench`.
 */
import { execFile, execFileSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** The ghz or fortio binary: $GHZ_BIN / $FORTIO_BIN when set (run.sh does), else built on demand. */
export function goTool(name: 'ghz' | 'fortio', env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env[name === 'ghz' ? 'GHZ_BIN' : 'FORTIO_BIN'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  return execFileSync(path.join(REPO_ROOT, 'scripts/go-tools.sh'), [name], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
}

let tasksetPresent: boolean | undefined;

/** True when CPU pinning is possible and meaningful (taskset exists, at least two CPUs). */
export function canPin(): boolean {
  if (tasksetPresent === undefined) {
    try {
      execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
      tasksetPresent = true;
    } catch {
      tasksetPresent = false;
    }
  }
  return tasksetPresent && availableParallelism() >= 2;
}

/**
 * The command line that runs `cmd args` on one CPU (taskset execs the command, so the pid of the
 * spawned process is the pid of the tool itself — what /proc CPU accounting needs).
 */
export function pinned(cpu: number | undefined, cmd: string, args: readonly string[]): [string, string[]] {
  if (cpu === undefined || !canPin()) return [cmd, [...args]];
  return ['taskset', ['-c', String(cpu), cmd, ...args]];
}

export interface ToolRun {
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a tool to completion (bounded by timeoutMs); rejects with its stderr tail on failure. */
export function runTool(cmd: string, args: readonly string[], timeoutMs: number, cwd = REPO_ROOT): Promise<ToolRun> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      [...args],
      { cwd, timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 256 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err !== null) {
          const tail = stderr.split('\n').slice(-15).join('\n');
          reject(new Error(`${path.basename(cmd)} ${args.slice(0, 3).join(' ')}… failed: ${err.message.split('\n')[0]}\n${tail}`));
        } else {
          resolve({ stdout, stderr });
        }
      },
    );
  });
}
