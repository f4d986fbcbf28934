import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { caseClaims, compare, readTestFile, runTest } from '../../../src/cli/test-runner.ts';
import type { TestExpect } from '../../../src/cli/test-runner.ts';
import type { Evaluation } from '../../../src/cli/shared/evaluate.ts';
import { UsageError } from '../../../src/cli/shared/errors.ts';
import type { CliIo } from '../../../src/cli/shared/io.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const POLICY = path.join(ROOT, 'manifests/examples/patient-app-policy.yaml');
let dir = '';

function collector(): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), stdout: () => out, stderr: () => err };
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
  return file;
}

// An absolute path is accepted as is (relative paths resolve against the test file's folder).
const header = (): string => `policy: ${JSON.stringify(POLICY)}
defaults:
  claims: { client_id: demo-patient-app, scope: "patient/Observation.rs", patient: "123" }
tests:
`;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'fhirgate-test-runner-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('fhirgate test', () => {
  test('a passing file prints PASS lines and the summary, exit 0', async () => {
    const file = write('ok/pass.yaml', `${header()}  - name: own data
    request: { method: GET, url: "/fhir/Observation?patient=123&_count=999" }
    expect: { decision: allow, status: 200, reason: allowed, rewrites: { set: { _count: "50" } }, obligations: 0 }
  - name: other patient
    request: { method: GET, url: "/fhir/Observation?patient=456" }
    expect: { decision: deny, status: 403, reason: patient_compartment_violation }
  - name: known engine gap
    skip: documented elsewhere
    request: { method: GET, url: /fhir/Patient/123 }
    expect: { decision: allow, reason: allowed }
`);
    const io = collector();
    assert.equal(await runTest([file], io), 0);
    assert.match(io.stdout(), /^PASS .*pass\.yaml: own data$/m);
    assert.match(io.stdout(), /^PASS .*pass\.yaml: other patient$/m);
    assert.match(io.stdout(), /^SKIP .*known engine gap — documented elsewhere$/m);
    assert.match(io.stdout(), /^2 passed, 0 failed, 1 skipped$/m);
  });

  test('a failing case prints expected vs got and exits 1', async () => {
    const file = write('bad/fail.yaml', `${header()}  - name: wrongly expects an allow
    request: { method: GET, url: "/fhir/Observation?patient=456" }
    expect: { decision: allow, reason: allowed }
  - name: wrong rewrite
    request: { method: GET, url: "/fhir/Observation?code=x" }
    expect: { decision: allow, rewrites: { set: { patient: Patient/999 } } }
`);
    const io = collector();
    assert.equal(await runTest([file], io), 1);
    assert.match(io.stdout(), /^FAIL .*fail\.yaml: wrongly expects an allow$/m);
    assert.match(io.stdout(), /decision: expected "allow", got "deny"/);
    assert.match(io.stdout(), /reason: expected "allowed", got "patient_compartment_violation"/);
    assert.match(io.stdout(), /rewrites\.set: expected \{"patient":"Patient\/999"\}, got \{"patient":"Patient\/123"\}/);
    assert.match(io.stdout(), /^0 passed, 2 failed$/m);
  });

  test('a directory is searched recursively; one failure fails the run', async () => {
    const io = collector();
    assert.equal(await runTest([dir], io), 1);
    assert.match(io.stdout(), /^2 passed, 2 failed, 1 skipped$/m);
  });

  test('invalid test files exit 2 and name the field', async () => {
    const unknownField = write('invalid/unknown.yaml', `${header()}  - name: typo
    request: { method: GET, url: /fhir/Patient/123 }
    expect: { decision: allow, reasn: allowed }
`);
    const badReason = write('invalid/reason.yaml', `${header()}  - name: bad code
    request: { method: GET, url: /fhir/Patient/123 }
    expect: { decision: deny, reason: not_a_reason }
`);
    const missingPolicy = write('invalid/policy.yaml', `policy: does-not-exist.yaml
tests:
  - name: x
    request: { method: GET, url: /fhir/Patient/123 }
    expect: { decision: deny, reason: credential_missing }
`);
    const dupKey = write('invalid/dup.yaml', `policy: a.yaml\npolicy: b.yaml\ntests: []\n`);
    for (const [file, pattern] of [
      [unknownField, /unknown field "reasn"/],
      [badReason, /\/tests\/0\/expect\/reason: must be one of the reason codes/],
      [missingPolicy, /cannot read: ENOENT/],
      [dupKey, /YAML/],
    ] as const) {
      const io = collector();
      assert.equal(await runTest([file], io), 2, file);
      assert.match(io.stderr(), pattern, file);
    }
    assert.throws(() => readTestFile(unknownField), UsageError);
  });

  test('usage errors exit 2', async () => {
    for (const argv of [[], ['/nonexistent/dir'], ['--bogus', dir]]) {
      const io = collector();
      assert.equal(await runTest(argv, io), 2, argv.join(' '));
    }
  });
});

describe('case semantics', () => {
  test('claims merge over defaults; null removes a claim; null claims mean no credential', () => {
    const defaults = { claims: { scope: 'a', patient: '1' } };
    assert.deepEqual(caseClaims(defaults, { name: 'n', claims: { scope: 'b', patient: null }, request: { method: 'GET', url: '/' }, expect: { decision: 'deny' } }), { scope: 'b' });
    assert.equal(caseClaims(defaults, { name: 'n', claims: null, request: { method: 'GET', url: '/' }, expect: { decision: 'deny' } }), undefined);
    assert.equal(caseClaims(undefined, { name: 'n', request: { method: 'GET', url: '/' }, expect: { decision: 'deny' } }), undefined);
  });

  test('a deny expectation without a reason fails (a deny for the wrong reason must not pass)', () => {
    const got = { decision: 'deny', reason: 'credential_missing', rule: '', rewrites: { set: {}, remove: [] }, obligations: [], patients: [], breakGlass: false } as unknown as Evaluation;
    const expect: TestExpect = { decision: 'deny' };
    assert.equal(compare(expect, got).length, 1);
    assert.deepEqual(compare({ decision: 'deny', reason: 'credential_missing' }, got), []);
    assert.match(compare({ decision: 'deny', reason: 'credential_missing', rule: 'scope:' }, got)[0] ?? '', /rule: expected prefix/);
  });
});

describe('the shipped policy tests', () => {
  test('fhirgate test test/policies passes (child process)', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['cmd/fhirgate.ts', 'test', 'test/policies'], { cwd: ROOT, timeout: 60_000 });
    const summary = /^(\d+) passed, 0 failed(, \d+ skipped)?$/m.exec(stdout);
    assert.ok(summary !== null, stdout.slice(-500));
    assert.ok(Number(summary[1]) >= 30);
    assert.equal(/^FAIL /m.test(stdout), false);
  });
});
