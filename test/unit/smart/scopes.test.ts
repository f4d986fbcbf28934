import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { parseSearchQuery } from '../../../src/fhir/search.ts';
import type { SearchParam } from '../../../src/fhir/search.ts';
import { INTERACTIONS } from '../../../src/fhir/request.ts';
import { grantsFor, hasUnrestrictedGrant, parseScope, parseScopes, permissionFor, restrictionsSatisfied } from '../../../src/smart/scopes.ts';
import type { Permission, ResourceScope } from '../../../src/smart/scopes.ts';

function resource(raw: string): ResourceScope {
  const s = parseScope(raw);
  assert.equal(s.kind, 'resource', `${raw} should parse`);
  return s as ResourceScope;
}
const letters = (s: ResourceScope): string => ['c', 'r', 'u', 'd', 's'].filter((p) => s.permissions.has(p as Permission)).join('');

test('v1 scopes map to v2 permissions (read → rs, write → cud, * → cruds)', () => {
  const rows: Array<[string, string, string, string]> = [
    ['patient/Observation.read', 'patient', 'Observation', 'rs'],
    ['user/Patient.write', 'user', 'Patient', 'cud'],
    ['system/*.*', 'system', '*', 'cruds'],
    ['patient/*.read', 'patient', '*', 'rs'],
  ];
  for (const [raw, level, type, perms] of rows) {
    const s = resource(raw);
    assert.deepEqual([s.level, s.resourceType, letters(s), s.version, s.restrictions], [level, type, perms, 1, []], raw);
  }
});

test('v2 scopes: letters in c r u d s order, each at most once', () => {
  const good: Array<[string, string]> = [
    ['patient/Observation.rs', 'rs'],
    ['user/*.cruds', 'cruds'],
    ['system/Patient.c', 'c'],
    ['patient/Condition.s', 's'],
    ['user/Encounter.ud', 'ud'],
    ['patient/Observation.crs', 'crs'],
  ];
  for (const [raw, perms] of good) {
    const s = resource(raw);
    assert.equal(letters(s), perms, raw);
    assert.equal(s.version, 2);
  }
  for (const raw of ['patient/Observation.sr', 'patient/Observation.rr', 'patient/Observation.rsr', 'patient/Observation.dc', 'patient/Observation.', 'patient/Observation.x', 'patient/Observation.RS', 'patient/Observation.Read', 'patient/Observation.cruds*']) {
    assert.equal(parseScope(raw).kind, 'invalid', raw);
  }
});

test('granular v2 restrictions', () => {
  const s = resource('patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory');
  assert.deepEqual(s.restrictions, [{ name: 'category', value: 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory' }]);
  const two = resource('user/Condition.rs?category=problem-list-item&clinical-status=active');
  assert.deepEqual(two.restrictions.map((r) => r.name), ['category', 'clinical-status']);
  assert.equal(resource('patient/Observation.rs?code=a%7Cb').restrictions[0]?.value, 'a|b');
  for (const raw of [
    'patient/Observation.read?category=laboratory', // restrictions are v2-only
    'patient/Observation.rs?',
    'patient/Observation.rs?category',
    'patient/Observation.rs?=laboratory',
    'patient/Observation.rs?category=',
    'patient/Observation.rs?category:not=laboratory',
    'patient/Observation.rs?subject.name=x',
    'patient/Observation.rs?category=%ZZ',
    'patient/Observation.rs?category=a\\b',
    'patient/Observation.rs?category=a&',
  ]) {
    assert.equal(parseScope(raw).kind, 'invalid', raw);
  }
});

test('context and other scopes', () => {
  for (const name of ['launch', 'launch/patient', 'launch/encounter', 'openid', 'fhirUser', 'profile', 'offline_access', 'online_access']) {
    assert.deepEqual(parseScope(name), { kind: 'context', raw: name, name });
  }
  for (const raw of ['email', 'launch/other', 'openID', 'https://example.org/scope', 'patientx/Observation.read']) {
    assert.equal(parseScope(raw).kind, 'other', raw);
  }
});

test('garbage and case variants grant nothing', () => {
  for (const raw of [
    'Patient/Observation.read', 'PATIENT/*.read', 'patient/observation.read', 'patient/Observation', 'patient/.read', 'patient/Foo.read',
    'patient/Observation.read ', 'patient/ Observation.read', 'patient/Observation.r.s', 'patient//Observation.rs', 'patient/*.**',
    'patient/Resource.rs', 'patient/*.rs?', '', 'x'.repeat(2000), 'patient/',
  ]) {
    const s = parseScope(raw);
    assert.ok(s.kind === 'invalid' || s.kind === 'other', raw);
    assert.deepEqual(grantsFor([s], 'patient', 'Observation', 'r'), []);
  }
});

test('parseScopes accepts a list or a space-separated string', () => {
  assert.deepEqual(parseScopes('openid  patient/*.rs').map((s) => s.kind), ['context', 'resource']);
  assert.deepEqual(parseScopes(['launch', 'bogus/x']).map((s) => s.kind), ['context', 'other']);
});

test('permissionFor follows SMART 2', () => {
  const expected: Record<string, Permission | undefined> = {
    read: 'r', vread: 'r', 'history-instance': 'r',
    'search-type': 's', 'search-system': 's', 'search-compartment': 's', 'history-type': 's', 'history-system': 's',
    create: 'c', update: 'u', patch: 'u', delete: 'd',
    capabilities: undefined, batch: undefined, transaction: undefined,
    'operation-system': undefined, 'operation-type': undefined, 'operation-instance': undefined,
  };
  for (const i of INTERACTIONS) assert.equal(permissionFor(i), expected[i], i);
});

test('grantsFor: exact level, type or wildcard, permission present', () => {
  const scopes = parseScopes('patient/Observation.rs user/*.r patient/*.c patient/Condition.read patient/Observation.rs?category=laboratory');
  assert.deepEqual(grantsFor(scopes, 'patient', 'Observation', 'r').map((s) => s.raw), ['patient/Observation.rs', 'patient/Observation.rs?category=laboratory']);
  assert.deepEqual(grantsFor(scopes, 'patient', 'Observation', 'c').map((s) => s.raw), ['patient/*.c']);
  assert.deepEqual(grantsFor(scopes, 'user', 'Patient', 'r').map((s) => s.raw), ['user/*.r']);
  assert.deepEqual(grantsFor(scopes, 'user', 'Patient', 's'), []);
  assert.deepEqual(grantsFor(scopes, 'system', 'Observation', 'r'), []);
  assert.deepEqual(grantsFor(scopes, 'patient', 'Condition', 's').map((s) => s.raw), ['patient/Condition.read']);
  assert.deepEqual(grantsFor(scopes, 'patient', 'Condition', 'u'), []);
});

function params(query: string): readonly SearchParam[] {
  const r = parseSearchQuery(query, 'Observation');
  assert.ok(r.ok);
  return r.search.params;
}

test('restrictionsSatisfied never widens a granular grant', () => {
  const LAB = 'http://terminology.hl7.org/CodeSystem/observation-category|laboratory';
  const { restrictions } = resource(`patient/Observation.rs?category=${LAB}`);
  assert.equal(restrictionsSatisfied(restrictions, params(`patient=1&category=${LAB}`)), 'satisfied');
  assert.equal(restrictionsSatisfied(restrictions, params(`category=${LAB}&category=other`)), 'satisfied'); // AND narrows further
  assert.equal(restrictionsSatisfied(restrictions, params('patient=1')), 'not-satisfied');
  assert.equal(restrictionsSatisfied(restrictions, params('category=laboratory')), 'not-satisfied'); // any system: wider
  assert.equal(restrictionsSatisfied(restrictions, params(`category=${LAB},vital-signs`)), 'not-satisfied');
  assert.equal(restrictionsSatisfied(restrictions, params(`category:not=${LAB}`)), 'not-satisfied');
  assert.equal(restrictionsSatisfied(restrictions, params(`category:missing=false`)), 'not-satisfied');
  assert.equal(restrictionsSatisfied(restrictions, params(`subject.category=${LAB}`)), 'not-satisfied');
  assert.equal(restrictionsSatisfied(restrictions, undefined), 'needs-content');
  assert.equal(restrictionsSatisfied([], undefined), 'satisfied');
  assert.equal(restrictionsSatisfied([], params('')), 'satisfied');

  const both = resource('user/Condition.rs?category=problem-list-item,encounter-diagnosis&clinical-status=active').restrictions;
  assert.equal(restrictionsSatisfied(both, params('category=problem-list-item&clinical-status=active')), 'satisfied');
  assert.equal(restrictionsSatisfied(both, params('category=problem-list-item')), 'not-satisfied');
});

const permissionLetters = fc.subarray(['c', 'r', 'u', 'd', 's']);

test('property: the parser never throws on arbitrary strings', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.string({ maxLength: 30 }).map((s) => `patient/Observation.${s}`)), (raw) => {
      const s = parseScope(raw);
      assert.ok(['resource', 'context', 'other', 'invalid'].includes(s.kind));
    }),
    { numRuns: 3000 },
  );
});

test('property: a v2 scope grants exactly the letters given, only when in order', () => {
  fc.assert(
    fc.property(fc.shuffledSubarray(['c', 'r', 'u', 'd', 's', 'r', 's'], { minLength: 1 }), fc.constantFrom('patient', 'user', 'system'), (given, level) => {
      const raw = `${level}/Observation.${given.join('')}`;
      const s = parseScope(raw);
      const ordered = given.join('') === ['c', 'r', 'u', 'd', 's'].filter((l) => given.includes(l)).join('');
      if (!ordered) {
        assert.equal(s.kind, 'invalid', raw);
        return;
      }
      assert.equal(s.kind, 'resource');
      if (s.kind !== 'resource') return;
      for (const p of s.permissions) assert.ok(given.includes(p), `${raw} granted ${p}`);
      assert.equal(s.permissions.size, given.length);
    }),
    { numRuns: 2000 },
  );
  fc.assert(
    fc.property(permissionLetters, (subset) => {
      if (subset.length === 0) return;
      const s = parseScope(`user/*.${subset.join('')}`);
      assert.equal(s.kind, 'resource');
      if (s.kind === 'resource') assert.deepEqual([...s.permissions].sort(), [...subset].sort());
    }),
  );
});

test('hasUnrestrictedGrant: grantsFor has a grant without restrictions', () => {
  const scopes = parseScopes('patient/Observation.rs?category=laboratory user/*.r patient/Condition.read patient/*.c openid bogus/x');
  const levels = ['patient', 'user', 'system'] as const;
  const types = ['Observation', 'Condition', 'Patient'];
  const permissions = ['c', 'r', 'u', 'd', 's'] as const;
  for (const level of levels) {
    for (const type of types) {
      for (const permission of permissions) {
        const expected = grantsFor(scopes, level, type, permission).some((g) => g.restrictions.length === 0);
        assert.equal(hasUnrestrictedGrant(scopes, level, type, permission), expected, `${level} ${type} ${permission}`);
      }
    }
  }
  // A restricted grant alone is not enough.
  assert.equal(hasUnrestrictedGrant(scopes, 'patient', 'Observation', 'r'), false);
  assert.equal(hasUnrestrictedGrant(scopes, 'patient', 'Condition', 'r'), true);
});

test('grantsFor: no match is an empty list every time, never one that remembers an earlier answer', () => {
  const scopes = parseScopes('patient/Observation.rs');
  const none = grantsFor(scopes, 'system', 'Observation', 'r');
  assert.deepEqual(none, []);
  assert.deepEqual(grantsFor(scopes, 'patient', 'Observation', 'r').map((s) => s.raw), ['patient/Observation.rs']);
  assert.deepEqual(grantsFor(scopes, 'user', 'Observation', 'r'), []);
  assert.equal(none.length, 0);
});
