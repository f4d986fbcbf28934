import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fhirSchemaValidator } from '../../../../src/fhir/body/schema.ts';

const OBS = {
  resourceType: 'Observation',
  status: 'final',
  code: { text: 'weight' },
  subject: { reference: 'Patient/p1' },
  valueQuantity: { value: 70, unit: 'kg' },
};

test("'allow' tolerates unknown elements anywhere but still checks known ones", () => {
  const allow = fhirSchemaValidator('allow');
  assert.equal(allow.unknownElements, 'allow');
  assert.deepEqual(allow.validate({ ...OBS, r5Element: { a: 1 }, code: { text: 'w', vendorFlag: true } }), { ok: true });
  assert.deepEqual(allow.validate({ ...OBS, contained: [{ resourceType: 'Patient', extra: 1 }] }), { ok: true });
  assert.equal(allow.validate({ ...OBS, status: 'done' }).ok, false);
  assert.equal(allow.validate({ ...OBS, subject: 'Patient/p1' }).ok, false);
  assert.equal(allow.validate({ ...OBS, contained: [{ resourceType: 'Bot' }] }).ok, false);
  assert.equal(allow.validate({ ...OBS, resourceType: 'Project' }).ok, false);
});

test("'reject' refuses unknown elements, and the compiled validator is cached", () => {
  const reject = fhirSchemaValidator('reject');
  assert.equal(fhirSchemaValidator('reject'), reject);
  assert.deepEqual(reject.validate(OBS), { ok: true });
  assert.deepEqual(reject.validate({ ...OBS, extra: 1 }), { ok: false, detail: 'unknown element in /' });
  assert.deepEqual(reject.validate({ ...OBS, contained: [{ resourceType: 'Bot' }] }), { ok: false, detail: 'resource type not in FHIR R4 at /contained/0' });
  assert.deepEqual(reject.validate({ ...OBS, code: undefined }), { ok: false, detail: 'required element missing in /' });
  assert.equal(reject.validate('not an object').ok, false);
});

test('a missing schema file fails loudly at compile time (fail closed)', () => {
  assert.throws(() => fhirSchemaValidator('reject', '/nonexistent/fhir.schema.json'));
});

test('compile and validation cost (reported, loosely bounded)', () => {
  const v = fhirSchemaValidator('reject');
  const n = 2000;
  const started = performance.now();
  for (let i = 0; i < n; i++) assert.ok(v.validate(OBS).ok);
  const perValidationUs = ((performance.now() - started) * 1000) / n;
  // Generous bounds: these catch a pathological regression (e.g. compiling per call), not jitter.
  assert.ok(v.compileMs < 60_000, `compile took ${v.compileMs} ms`);
  assert.ok(perValidationUs < 1000, `validation took ${perValidationUs} µs`);
  process.stdout.write(`# FHIR schema compile ${v.compileMs.toFixed(0)} ms, validate ${perValidationUs.toFixed(1)} µs\n`);
});
