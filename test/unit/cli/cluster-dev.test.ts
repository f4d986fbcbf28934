import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import {
  CLUSTER_DEV_DEFAULT_PORTS,
  clusterDevInstructions,
  parseClusterDevArgs,
  shellQuote,
} from '../../../src/cli/cluster-dev.ts';
import { DEV_DEFAULT_PORTS } from '../../../src/cli/dev/command.ts';

const REQUIRED = ['--kubeconfig', '/s/kubeconfig', '--state-dir', '/s'];

describe('parseClusterDevArgs', () => {
  it('defaults to fixed ports that differ from the `fhirgate dev` ones', () => {
    const a = parseClusterDevArgs(REQUIRED);
    assert.deepEqual(a.ports, { ...CLUSTER_DEV_DEFAULT_PORTS });
    assert.equal(a.kubectl, 'kubectl');
    const demo = new Set<number>(Object.values(DEV_DEFAULT_PORTS));
    for (const p of Object.values(a.ports)) assert.ok(!demo.has(p), `port ${p} collides with make demo`);
  });

  it('takes every option', () => {
    const a = parseClusterDevArgs([...REQUIRED, '--kubectl', '/bin/k', '--port', '1', '--issuer-port', '2', '--fhir-port', '3', '--grpc-port', '4']);
    assert.deepEqual(a.ports, { envoy: 1, issuer: 2, fhir: 3, grpc: 4 });
    assert.equal(a.kubectl, '/bin/k');
    assert.equal(a.kubeconfig, '/s/kubeconfig');
    assert.equal(a.stateDir, '/s');
  });

  it('refuses missing required options, bad and duplicate ports, unknown flags', () => {
    assert.throws(() => parseClusterDevArgs([]), /--kubeconfig and --state-dir are required/);
    assert.throws(() => parseClusterDevArgs(['--kubeconfig', 'k']), /required/);
    for (const bad of ['0', '65536', '-1', '1e3', 'x', '']) {
      assert.throws(() => parseClusterDevArgs([...REQUIRED, '--port', bad]), TypeError, bad);
    }
    assert.throws(() => parseClusterDevArgs([...REQUIRED, '--port', '5', '--grpc-port', '5']), /different/);
    assert.throws(() => parseClusterDevArgs([...REQUIRED, '--bogus']), TypeError);
    assert.throws(() => parseClusterDevArgs([...REQUIRED, 'extra']), TypeError);
  });

  it('--help needs nothing else', () => {
    assert.equal(parseClusterDevArgs(['--help']).help, true);
  });
});

describe('shellQuote', () => {
  it('leaves plain paths alone', () => {
    assert.equal(shellQuote('/tmp/a-b_c/kube.config'), '/tmp/a-b_c/kube.config');
  });

  it('bash reads back exactly the original string, whatever it contains', () => {
    // Few runs: each one starts a shell. NUL cannot be in an argv or a path.
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }).filter((s) => !s.includes('\0')), (s) => {
        const r = spawnSync('bash', ['-c', `printf %s ${shellQuote(s)}`], { encoding: 'utf8', timeout: 10_000 });
        assert.equal(r.stdout, s);
      }),
      { numRuns: 40 },
    );
  });
});

describe('clusterDevInstructions', () => {
  const text = clusterDevInstructions({
    kubeconfig: "/tmp/it's here/kubeconfig",
    kubectl: '/cache/bin/kubectl',
    envoyUrl: 'http://127.0.0.1:10080',
    issuerUrl: 'https://127.0.0.1:10443',
    caFile: '/s/cluster-dev/issuer-ca/ca.crt',
  });

  it('tells the story in order: export, fail-closed 503, apply, get, allow, denials', () => {
    const order = [
      "export KUBECONFIG='/tmp/it'\\''s here/kubeconfig'",
      '# 503 policy_unavailable',
      'kubectl apply -f manifests/examples/',
      'kubectl get fhiraccesspolicies -n ehr',
      '# 200',
      "curl -s -w '\\nHTTP %{http_code}\\n' -H \"Authorization: Bearer $TOKEN\" 'http://127.0.0.1:10080/fhir/Observation'",
      'patient=example-patient-2',
      '/token/clinician',
    ];
    let at = -1;
    for (const needle of order) {
      const i = text.indexOf(needle, at + 1);
      assert.ok(i > at, `${JSON.stringify(needle)} after position ${at}:\n${text}`);
      at = i;
    }
  });

  it('fetches tokens for the persona whose client the patient-app example bounds, verifying the issuer CA', () => {
    assert.match(text, /curl -s --cacert \/s\/cluster-dev\/issuer-ca\/ca\.crt https:\/\/127\.0\.0\.1:10443\/token\/patient-app /);
    assert.doesNotMatch(text, /\s-k\s|--insecure/);
    assert.match(text, /^alias kubectl=\/cache\/bin\/kubectl/m);
  });

  it('needs no alias when kubectl is the one on PATH', () => {
    const plain = clusterDevInstructions({ kubeconfig: '/k', kubectl: 'kubectl', envoyUrl: 'http://127.0.0.1:1', issuerUrl: 'https://127.0.0.1:2', caFile: '/ca' });
    assert.doesNotMatch(plain, /alias/);
  });
});
