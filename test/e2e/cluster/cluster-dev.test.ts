/**
 * `make cluster-up` the way a user runs it: scripts/cluster/up.sh, then scripts/cluster/dev-up.sh
 * (which starts `fhirgate cluster-dev` detached), in a private CLUSTER_STATE_DIR and on ports
 * of its own so it never meets a developer's cluster or another test. Then what the printed
 * instructions say: requests are denied (503 policy_unavailable) before any policy; after
 * `kubectl apply -f manifests/examples/` the policies are Accepted and Ready with printer
 * columns; the printed curl lines, run by bash as pasted, give an allow and two denials through
 * the real Envoy. Torn down with scripts/cluster/down.sh, which must leave nothing running.
 * Opt-in like the other cluster tests (FHIRGATE_E2E_CLUSTER=1; `make test` sets it).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../../src/cli/dev/wait.ts';
import { rawRequest, reasonOf } from '../harness.ts';
import type { RawResponse } from '../harness.ts';
import { BUILD_TIMEOUT_MS, buildClusterBinaries, clusterSkipReason, freePort, run } from './harness.ts';
import type { RunResult } from './harness.ts';

const skipReason = clusterSkipReason();

const REPO = join(import.meta.dirname, '../../..');
const SCRIPTS = join(REPO, 'scripts/cluster');
const START_TIMEOUT_MS = 5 * 60_000;

/** The lines of the printed instructions from the comment starting with `heading` to the next blank line. */
function block(instructions: string, heading: string): string {
  const start = instructions.indexOf(`\n# ${heading}`);
  assert.ok(start >= 0, `instructions have a "${heading}" step:\n${instructions}`);
  const end = instructions.indexOf('\n\n', start + 1);
  return instructions.slice(start + 1, end < 0 ? undefined : end);
}

function pidAlive(pid: number): boolean {
  try {
    return existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false; // exited between the two reads
  }
}

/** PIDs of live processes whose command line mentions `dir` (bounded by the /proc listing). */
function processesNaming(dir: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || !pidAlive(Number(entry))) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) found.push(Number(entry));
    } catch {
      // exited while we looked
    }
  }
  return found;
}

describe('make cluster-up: scripts/cluster/up.sh + dev-up.sh, kubectl apply, curl through Envoy', { skip: skipReason ?? false, timeout: BUILD_TIMEOUT_MS }, () => {
  const root = mkdtempSync(join(tmpdir(), 'fhirgate-cluster-dev-e2e-'));
  const state = join(root, 'state');
  let env: NodeJS.ProcessEnv;
  let kubectlBin: string;
  let envoyPort: number;
  let upOutput: string;
  let instructions: string;
  let devPid: number;
  let tornDown = false;

  const downSync = (): void => {
    if (!tornDown) spawnSync(join(SCRIPTS, 'down.sh'), ['--purge'], { env, stdio: 'ignore', timeout: 60_000 });
  };

  const kubectl = async (args: readonly string[]): Promise<string> => {
    const r = await run(kubectlBin, ['--kubeconfig', join(state, 'kubeconfig'), ...args], { env });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  /** Runs pasted instruction lines the way a user's shell would (aliases on, KUBECONFIG exported). */
  const paste = (lines: string): Promise<RunResult> =>
    run('bash', ['-c', `set -e\nshopt -s expand_aliases\n${exportLines()}\n${lines}`], { env, timeoutMs: 60_000 });

  const exportLines = (): string => instructions.split('\n').filter((l) => l.startsWith('export KUBECONFIG=') || l.startsWith('alias kubectl=')).join('\n');

  const get = (path: string, token?: string): Promise<RawResponse> =>
    rawRequest(envoyPort, { path, headers: token === undefined ? [] : [['authorization', `Bearer ${token}`]] });

  before(async () => {
    kubectlBin = join(await buildClusterBinaries(), 'kubectl');
    envoyPort = await freePort();
    env = {
      ...process.env,
      CLUSTER_STATE_DIR: state,
      CLUSTER_DEV_PORT: String(envoyPort),
      CLUSTER_DEV_ISSUER_PORT: String(await freePort()),
      CLUSTER_DEV_FHIR_PORT: String(await freePort()),
      CLUSTER_DEV_GRPC_PORT: String(await freePort()),
    };
    delete env['KUBECONFIG'];
    // If this process dies without running its hooks, leave no daemons behind.
    process.once('exit', downSync);
    const up = await run(join(SCRIPTS, 'up.sh'), [], { env, timeoutMs: START_TIMEOUT_MS });
    assert.equal(up.code, 0, `up.sh: ${up.stderr}`);
    const dev = await run(join(SCRIPTS, 'dev-up.sh'), [], { env, timeoutMs: START_TIMEOUT_MS });
    const logTail = (): string => {
      try {
        return readFileSync(join(state, 'logs/cluster-dev.log'), 'utf8').split('\n').slice(-40).join('\n');
      } catch {
        return '(no log)';
      }
    };
    assert.equal(dev.code, 0, `dev-up.sh: ${dev.stderr}\n${logTail()}`);
    upOutput = up.stdout + dev.stdout;
    instructions = dev.stdout;
    devPid = Number(readFileSync(join(state, 'cluster-dev.pid'), 'utf8').trim());
    assert.ok(Number.isInteger(devPid) && pidAlive(devPid), 'cluster-dev runs in the background after dev-up.sh returned');
  });

  after(() => {
    downSync();
    tornDown = true;
    process.removeListener('exit', downSync);
    rmSync(root, { recursive: true, force: true });
  });

  it('prints the export line, the kubectl commands and curl lines for its own Envoy port', () => {
    assert.ok(upOutput.includes(`export KUBECONFIG=${join(state, 'kubeconfig')}`), upOutput);
    assert.match(instructions, /^kubectl apply -f manifests\/examples\/$/m);
    assert.match(instructions, /^kubectl get fhiraccesspolicies -n ehr$/m);
    assert.ok(instructions.includes(`http://127.0.0.1:${envoyPort}/fhir/Observation`));
    assert.ok(!/\bcurl\b[^\n]*\s-k\b/.test(instructions), 'the issuer is reached with --cacert, never -k');
  });

  it('before any policy: the printed request is denied 503 policy_unavailable (fail closed), with or without a token', async () => {
    const r = await paste(block(instructions, '503'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\nHTTP 503\n?$/);
    assert.equal(reasonOf(r.stdout.slice(0, r.stdout.lastIndexOf('\nHTTP'))), 'policy_unavailable');
    const withToken = await paste(`${block(instructions, '200').split('\n').find((l) => l.startsWith('TOKEN=')) ?? 'false'}\ncurl -s -H "Authorization: Bearer $TOKEN" 'http://127.0.0.1:${envoyPort}/fhir/Observation'`);
    assert.equal(reasonOf(withToken.stdout), 'policy_unavailable', withToken.stdout + withToken.stderr);
    assert.equal((await get('/fhir/metadata')).status, 503, 'not even the public capabilities without a policy');
  });

  it('kubectl apply -f manifests/examples/: Accepted=True, Ready=True (Enforced 1/1) and the printer columns', async () => {
    await kubectl(['apply', '-f', join(REPO, 'manifests/examples/')]);
    const jsonpath = (name: string, type: string) =>
      kubectl(['get', '-n', 'ehr', 'fhiraccesspolicies', name, '-o', `jsonpath={.status.conditions[?(@.type=="${type}")].status}/{.status.conditions[?(@.type=="${type}")].reason}`]);
    await waitFor(async () => ((await jsonpath('patient-app', 'Ready')) === 'True/Enforced' ? true : undefined), {
      what: 'patient-app Ready=True/Enforced',
      timeoutMs: 60_000,
      intervalMs: 250,
      abortIf: () => (pidAlive(devPid) ? undefined : 'cluster-dev exited'),
    });
    assert.equal(await jsonpath('patient-app', 'Accepted'), 'True/Accepted');
    assert.equal(await kubectl(['get', '-n', 'ehr', 'fhiraccesspolicies', 'patient-app', '-o', 'jsonpath={.status.enforcedBy.current}/{.status.enforcedBy.total}']), '1/1');
    assert.match(await jsonpath('clinician', 'Accepted'), /^True\//);
    await waitFor(async () => ((await jsonpath('clinician', 'Ready')).startsWith('True/') ? true : undefined), { what: 'clinician Ready=True', timeoutMs: 30_000, intervalMs: 250 });

    // The printed `kubectl wait … && kubectl get`, pasted: the table a user sees.
    const table = await paste(block(instructions, 'apply the examples').split('\n').filter((l) => l.startsWith('kubectl wait') || l === 'kubectl get fhiraccesspolicies -n ehr').join('\n'));
    assert.equal(table.code, 0, table.stderr);
    const lines = table.stdout.split('\n').filter((l) => !l.includes('condition met'));
    assert.match(lines[0] ?? '', /^NAME\s+BASE PATH\s+ACCEPTED\s+READY\s+ENFORCED\s+AGE$/);
    assert.match(table.stdout, /\nclinician\s+\/ehr\/fhir\s+True\s+True\s+0\s/);
    assert.match(table.stdout, /\npatient-app\s+\/fhir\s+True\s+True\s+1\s/);
    const issuer = await kubectl(['get', '-n', 'ehr', 'trustedissuers', '-o', 'jsonpath={.items[*].metadata.name}']);
    assert.equal(issuer, 'demo-issuer');
  });

  it('the printed curl lines through Envoy: 200 for the patient app, 403 for another patient, 403 for a clinician token', async () => {
    const r = await paste([block(instructions, '200'), block(instructions, '403 — the same app'), block(instructions, '403 — a clinician')].join('\n'));
    assert.equal(r.code, 0, r.stderr);
    const answers = r.stdout.split(/\nHTTP (\d{3})\n/);
    // [body, code, body, code, body, code, '']
    const codes = answers.filter((_, i) => i % 2 === 1);
    const bodies = answers.filter((_, i) => i % 2 === 0);
    assert.deepEqual(codes, ['200', '403', '403'], r.stdout.slice(0, 2000));
    assert.equal((JSON.parse(bodies[0] ?? '{}') as { resourceType?: string }).resourceType, 'Bundle');
    assert.equal(reasonOf(bodies[1] ?? ''), 'patient_compartment_violation');
    assert.equal(reasonOf(bodies[2] ?? ''), 'scope_insufficient');
    assert.equal((await get('/fhir/Observation')).status, 401, 'no token: 401 now that a policy is loaded');
  });

  it('dev-up.sh again is a no-op; down.sh stops cluster-dev and everything it started, twice safely', async () => {
    const again = await run(join(SCRIPTS, 'dev-up.sh'), [], { env, timeoutMs: 60_000 });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /already running/);
    assert.equal(Number(readFileSync(join(state, 'cluster-dev.pid'), 'utf8').trim()), devPid);

    const down = await run(join(SCRIPTS, 'down.sh'), [], { env, timeoutMs: 60_000 });
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stderr, /stopped cluster-dev/);
    assert.equal(pidAlive(devPid), false);
    assert.equal((await get('/fhir/metadata').catch(() => undefined))?.status, undefined, 'Envoy is gone: nothing answers on its port');
    // Envoy, fhirgate-authz and the controller all name a file in the state dir on their command line.
    assert.deepEqual(processesNaming(state), [], 'no process started for this state dir is left');
    const log = readFileSync(join(state, 'logs/cluster-dev.log'), 'utf8');
    assert.match(log, /fhirgate cluster-dev: stopping \(SIGTERM\)/);
    assert.doesNotMatch(log, /eyJ[\w-]+\.eyJ/, 'no token in the log');
    const twice = await run(join(SCRIPTS, 'down.sh'), [], { env, timeoutMs: 60_000 });
    assert.equal(twice.code, 0, twice.stderr);
  });
});
