import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RoutePolicy } from '../../../src/policy/route-policy.ts';
import { httpRequest, principal } from '../../support/fixtures.ts';

const policy = new RoutePolicy({
  fhirBasePath: '/fhir/',
  publicPaths: ['/metadata'],
  rules: [
    { name: 'read-obs', methods: ['GET'], resourceTypes: ['Observation'], anyScopes: ['patient/Observation.rs', 'patient/Observation.read'] },
    { name: 'any-read', methods: ['GET'], resourceTypes: ['*'], anyScopes: ['user/*.rs'] },
  ],
});

const route = (path: string, method = 'GET') => policy.route(httpRequest({ path, method }));

test('public path under the base needs no token (GET only)', () => {
  assert.deepEqual(route('/fhir/metadata'), { kind: 'public', path: '/metadata' });
  assert.equal(route('/fhir/metadata', 'POST').kind, 'invalid');
});

test('paths outside the base or with bad segments are invalid', () => {
  for (const p of ['/other/Observation', '/fhirx/Observation', '/fhir', '/fhir/', '/fhir/observation', '/fhir/Observation/../Patient', '/fhir//Observation', '/fhir/Obs%2Fervation']) {
    assert.equal(route(p).kind, 'invalid', p);
  }
});

test('resource routes are protected', () => {
  assert.deepEqual(route('/fhir/Observation/123'), { kind: 'protected', resourceType: 'Observation' });
});

test('a matching scope allows; the rule name is recorded', () => {
  const d = policy.authorize(httpRequest({ path: '/fhir/Observation' }), { kind: 'protected', resourceType: 'Observation' }, principal({ scopes: ['launch', 'patient/Observation.rs'] }));
  assert.equal(d.kind, 'allow');
  assert.equal(d.kind === 'allow' && d.rule, 'route:read-obs');
});

test('wildcard rule matches any type', () => {
  const d = policy.authorize(httpRequest({ path: '/fhir/Patient/1' }), { kind: 'protected', resourceType: 'Patient' }, principal({ scopes: ['user/*.rs'] }));
  assert.equal(d.kind, 'allow');
});

test('route matched but scope missing → scope_insufficient with the scopes that would do', () => {
  const d = policy.authorize(httpRequest({ path: '/fhir/Observation' }), { kind: 'protected', resourceType: 'Observation' }, principal({ scopes: ['patient/Patient.rs'] }));
  assert.equal(d.kind, 'deny');
  if (d.kind === 'deny') {
    assert.equal(d.reason, 'scope_insufficient');
    assert.equal(d.requiredScope, 'patient/Observation.rs patient/Observation.read');
  }
});

test('no rule for the method → route_not_allowed (deny by default)', () => {
  const d = policy.authorize(httpRequest({ path: '/fhir/Observation', method: 'DELETE' }), { kind: 'protected', resourceType: 'Observation' }, principal({ scopes: ['user/*.rs', 'patient/Observation.rs'] }));
  assert.equal(d.kind === 'deny' && d.reason, 'route_not_allowed');
});

test('scope strings are compared exactly (no prefix or case tricks)', () => {
  for (const s of ['patient/Observation.r', 'patient/observation.rs', 'patient/Observation.rs ', 'patient/Observation.rs?x=1']) {
    const d = policy.authorize(httpRequest({ path: '/fhir/Observation' }), { kind: 'protected', resourceType: 'Observation' }, principal({ scopes: [s] }));
    assert.equal(d.kind, 'deny', s);
  }
});
