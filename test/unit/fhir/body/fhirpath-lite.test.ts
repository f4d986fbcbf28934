import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluatePaths, parseExpression, referenceTargetType } from '../../../../src/fhir/body/fhirpath-lite.ts';

function evaluate(expr: string, resource: Record<string, unknown>): unknown[] {
  const p = parseExpression(expr);
  assert.ok(p.ok, expr);
  return evaluatePaths(resource, p.paths);
}

test('child paths flatten arrays and skip absent elements', () => {
  const appt = {
    resourceType: 'Appointment',
    participant: [{ actor: { reference: 'Patient/1' } }, { status: 'accepted' }, { actor: { reference: 'Practitioner/2' } }],
  };
  assert.deepEqual(evaluate('Appointment.participant.actor', appt), [{ reference: 'Patient/1' }, { reference: 'Practitioner/2' }]);
  assert.deepEqual(evaluate('Appointment.participant.actor', { resourceType: 'Appointment' }), []);
});

test('a branch only applies to its own resource type; unions concatenate', () => {
  const obs = { resourceType: 'Observation', subject: { reference: 'Patient/1' }, performer: [{ reference: 'Patient/1' }] };
  assert.deepEqual(evaluate('Condition.subject | Observation.subject', obs), [{ reference: 'Patient/1' }]);
  assert.equal(evaluate('Observation.subject | Observation.performer', obs).length, 2);
});

test('where(resolve() is T) keeps references to T and ones whose target cannot be told', () => {
  const task = {
    resourceType: 'Task',
    for: { reference: 'Patient/1' },
  };
  assert.deepEqual(evaluate('Task.for.where(resolve() is Patient)', task), [{ reference: 'Patient/1' }]);
  const audit = {
    resourceType: 'AuditEvent',
    agent: [{ who: { reference: 'Practitioner/9' } }, { who: { reference: 'https://ehr.example/fhir/Patient/7/_history/2' } }],
    entity: [{ what: { reference: 'urn:uuid:0b0c' } }, { what: { reference: 'Group/3', type: 'Patient' } }, { what: { type: 'Patient', identifier: {} } }],
  };
  const got = evaluate('AuditEvent.agent.who.where(resolve() is Patient) | AuditEvent.entity.what.where(resolve() is Patient)', audit);
  assert.deepEqual(got, [
    { reference: 'https://ehr.example/fhir/Patient/7/_history/2' },
    { reference: 'urn:uuid:0b0c' },
    { type: 'Patient', identifier: {} },
  ]);
});

test('as-casts select choice elements', () => {
  const obs = { resourceType: 'Observation', valueQuantity: { value: 1 } };
  assert.deepEqual(evaluate('(Observation.value as Quantity)', obs), [{ value: 1 }]);
  assert.deepEqual(evaluate('Observation.value.as(Quantity)', obs), [{ value: 1 }]);
  assert.deepEqual(evaluate('Observation.value.ofType(String)', obs), []);
});

test('reference target types come from relative and absolute references only', () => {
  assert.equal(referenceTargetType('Patient/1'), 'Patient');
  assert.equal(referenceTargetType('http://x/fhir/Group/1/_history/3'), 'Group');
  assert.equal(referenceTargetType('urn:uuid:1'), undefined);
  assert.equal(referenceTargetType('#p1'), undefined);
});

test('everything outside the subset is refused', () => {
  for (const expr of [
    'Observation',
    'Observation.subject.first()',
    'Observation.component[0]',
    'Observation.subject.where(reference = \'x\')',
    '(Observation.subject',
    'Observation.subject | ',
    'Observation..subject',
    'x'.repeat(5000),
  ]) {
    assert.equal(parseExpression(expr).ok, false, expr);
  }
});
