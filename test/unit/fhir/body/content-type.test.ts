import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseContentType } from '../../../../src/fhir/body/content-type.ts';

test('accepts FHIR media types with the parameters FHIR defines', () => {
  const cases: Array<[string, string, string | undefined]> = [
    ['application/fhir+json', 'application/fhir+json', undefined],
    ['Application/FHIR+JSON; charset=UTF-8', 'application/fhir+json', 'utf-8'],
    ['application/json;charset="utf-8"', 'application/json', 'utf-8'],
    ['application/fhir+json; fhirVersion=4.0; charset=utf-8', 'application/fhir+json', 'utf-8'],
    ['application/json-patch+json', 'application/json-patch+json', undefined],
  ];
  for (const [header, type, charset] of cases) {
    const r = parseContentType(header);
    assert.ok(r.ok, header);
    assert.equal(r.media.type, type);
    assert.equal(r.media.charset, charset);
  }
});

test('refuses other charsets, unknown or repeated parameters, and malformed headers', () => {
  for (const header of [
    undefined,
    '',
    'application/fhir+json; charset=iso-8859-1',
    'application/fhir+json; charset=utf-16',
    'application/fhir+json; charset=utf8',
    'application/fhir+json; fhirVersion=5.0',
    'application/fhir+json; boundary=x',
    'application/fhir+json; charset=utf-8; charset=utf-8',
    'application/fhir+json; charset="utf-8',
    'application/fhir+json; charset',
    'application',
    'application/fhir+json/x',
    'application /fhir+json',
    'a'.repeat(300) + '/json',
  ]) {
    assert.equal(parseContentType(header).ok, false, String(header));
  }
});
