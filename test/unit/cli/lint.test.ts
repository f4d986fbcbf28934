import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { lintFile, runLint } from '../../../src/cli/lint.ts';
import type { CliIo } from '../../../src/cli/shared/io.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const EXAMPLES = ['manifests/examples/patient-app-policy.yaml', 'manifests/examples/clinician-policy.yaml'].map((f) => path.join(ROOT, f));
let dir = '';

function collector(): CliIo & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return { out: (t) => void (out += t), err: (t) => void (err += t), stdout: () => out, stderr: () => err };
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text);
  return file;
}

const doc = (spec: string, name = 'p'): string => `apiVersion: fhirgate.io/v1alpha1
kind: FhirAccessPolicy
metadata: { name: ${name} }
spec:
${spec}`;

before(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'fhirgate-lint-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('fhirgate lint', () => {
  test('the example policies are clean: exit 0', async () => {
    const io = collector();
    assert.equal(await runLint(EXAMPLES, io), 0);
    assert.match(io.stdout(), /^2 files, 2 policies: 0 errors, 0 warnings$/m);
  });

  test('a schema error names the file, document and field; exit 1', async () => {
    const file = write('bad.yaml', doc('  fhirBasePath: /fhir\n  search: { maxCount: 0, allowHass: true }\n'));
    const io = collector();
    assert.equal(await runLint([file], io), 1);
    assert.match(io.stdout(), new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:0: /spec/search: unknown field "allowHass"$`, 'm'));
    assert.match(io.stdout(), /:0: \/spec\/search\/maxCount: must be >= 1$/m);
  });

  test('compiler semantics: bad resource types, bad scope ceilings, in the right document', async () => {
    const file = write('multi.yaml', `${doc('  fhirBasePath: /fhir\n', 'ok')}\n---\n${doc('  fhirBasePath: /fhir\n  clients: [{ clientId: a, scopeCeiling: ["patient/Observation.xyz"] }]\n  patientCompartment: { nonCompartmentTypes: [Observation] }\n', 'bad')}`);
    const r = lintFile(file);
    assert.equal(r.documents.length, 2);
    assert.deepEqual(r.documents[0]?.errors, []);
    const paths = r.documents[1]?.errors.map((e) => e.path) ?? [];
    assert.ok(paths.includes('/spec/clients/0/scopeCeiling/0'), paths.join());
    assert.ok(paths.includes('/spec/patientCompartment/nonCompartmentTypes/0'), paths.join());
    assert.equal(await runLint([file], collector()), 1);
  });

  test('warnings are printed but do not fail', async () => {
    const file = write('warn.yaml', doc('  fhirBasePath: /fhir\n  roles: { enforce: true }\n'));
    const io = collector();
    assert.equal(await runLint([file], io), 0);
    assert.match(io.stdout(), /:0: \/spec\/roles: warning: enforce is true/);
  });

  test('hostile files: YAML errors, no policy, unreadable, not a mapping → errors, no crash', async () => {
    const files = [
      write('yaml.yaml', 'kind: FhirAccessPolicy\n  bad: [indent\n'),
      write('empty.yaml', '# nothing\n'),
      write('list.yaml', '- 1\n- 2\n'),
      write('alias.yaml', `a: &a [1]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: [${'*b, '.repeat(60)}*b]\nkind: FhirAccessPolicy\n`),
      path.join(dir, 'missing.yaml'),
    ];
    for (const f of files) {
      const io = collector();
      assert.equal(await runLint([f], io), 1, f);
      assert.match(io.stdout(), /[1-9]\d* errors?/, f);
    }
  });

  test('--json gives machine output', async () => {
    const io = collector();
    assert.equal(await runLint(['--json', EXAMPLES[0] ?? ''], io), 0);
    const j = JSON.parse(io.stdout()) as { files: Array<{ documents: Array<{ name: string }> }>; errors: number; warnings: number };
    assert.equal(j.errors, 0);
    assert.equal(j.files[0]?.documents[0]?.name, 'ehr/patient-app');
  });

  test('usage errors exit 2', async () => {
    assert.equal(await runLint([], collector()), 2);
    assert.equal(await runLint(['--nope', 'x'], collector()), 2);
  });

  test('child process: a bad file exits 1 and names the field', async () => {
    const file = write('child.yaml', readFileSync(EXAMPLES[0] ?? '', 'utf8').replace('maxCount: 50', 'maxCount: "fifty"'));
    await assert.rejects(
      promisify(execFile)(process.execPath, ['cmd/fhirgate.ts', 'lint', file], { cwd: ROOT, timeout: 30_000 }),
      (err: { code?: number; stdout?: string }) => err.code === 1 && /\/spec\/search\/maxCount: must be integer/.test(err.stdout ?? ''),
    );
  });
});
