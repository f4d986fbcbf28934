import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { isReasonCode } from '../../../src/core/reasons.ts';
import type { ReasonCode } from '../../../src/core/reasons.ts';
import { classify } from '../../../src/fhir/classify.ts';
import type { ClassifyInput } from '../../../src/fhir/classify.ts';
import { pathSegments } from '../../../src/fhir/interaction.ts';
import type { ClassifyOptions, FhirRequest } from '../../../src/fhir/request.ts';

const OPTS: ClassifyOptions = { basePath: '/fhir', baseUrl: 'https://ehr.example.org/fhir' };
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function ok(input: ClassifyInput, opts: ClassifyOptions = OPTS): FhirRequest {
  const r = classify(input, opts);
  assert.ok(r.ok, `expected ${input.method} ${input.path}?${input.rawQuery} to classify, got ${JSON.stringify(r)}`);
  return r.request;
}

function denied(input: ClassifyInput, opts: ClassifyOptions = OPTS): ReasonCode {
  const r = classify(input, opts);
  assert.ok(!r.ok, `expected ${input.method} ${input.path}?${input.rawQuery} to be denied, got ${JSON.stringify(r)}`);
  return r.reason;
}

type Row = [method: string, path: string, query: string, interaction: FhirRequest['interaction'], expect: Partial<FhirRequest>];

const ROWS: Row[] = [
  ['GET', '/fhir/Patient/123', '', 'read', { resourceType: 'Patient', id: '123' }],
  ['HEAD', '/fhir/Patient/123', '', 'read', { resourceType: 'Patient', id: '123' }],
  ['GET', '/fhir/Patient/123', '_summary=true&_format=json&_pretty=true', 'read', { format: 'json', pretty: true }],
  ['GET', '/fhir/Observation/a.b-C/_history/2', '', 'vread', { resourceType: 'Observation', id: 'a.b-C', versionId: '2' }],
  ['PUT', '/fhir/Patient/123', '', 'update', { resourceType: 'Patient', id: '123', conditional: false }],
  ['PUT', '/fhir/Patient', 'identifier=http://mrn|42', 'update', { resourceType: 'Patient', id: undefined, conditional: true }],
  ['PATCH', '/fhir/Patient/123', '', 'patch', { id: '123', conditional: false }],
  ['PATCH', '/fhir/Observation', 'subject=Patient/1', 'patch', { id: undefined, conditional: true }],
  ['DELETE', '/fhir/Patient/123', '', 'delete', { id: '123', conditional: false }],
  ['DELETE', '/fhir/Observation', 'subject=Patient/1&code=x', 'delete', { id: undefined, conditional: true }],
  ['GET', '/fhir/Patient/123/_history', '_count=5', 'history-instance', { resourceType: 'Patient', id: '123' }],
  ['GET', '/fhir/Patient/_history', '_since=2020-01-01', 'history-type', { resourceType: 'Patient', id: undefined }],
  ['GET', '/fhir/_history', '', 'history-system', { resourceType: undefined }],
  ['POST', '/fhir/Observation', '', 'create', { resourceType: 'Observation', conditional: false }],
  ['GET', '/fhir/Observation', 'patient=123&code=http://loinc.org|1234-5', 'search-type', { resourceType: 'Observation' }],
  ['GET', '/fhir/Observation', '', 'search-type', { resourceType: 'Observation' }],
  ['POST', '/fhir/Observation/_search', 'patient=123', 'search-type', { resourceType: 'Observation' }],
  ['GET', '/fhir', '_type=Patient,Observation&_lastUpdated=gt2020', 'search-system', { resourceType: undefined }],
  ['POST', '/fhir/_search', '', 'search-system', { resourceType: undefined }],
  ['GET', '/fhir/Patient/123/Observation', 'code=x', 'search-compartment', { compartment: { type: 'Patient', id: '123', targetType: 'Observation' } }],
  ['GET', '/fhir/Patient/123/*', '', 'search-compartment', { compartment: { type: 'Patient', id: '123', targetType: '*' } }],
  ['GET', '/fhir/Encounter/9/Observation', '', 'search-compartment', { compartment: { type: 'Encounter', id: '9', targetType: 'Observation' } }],
  ['GET', '/fhir/metadata', '', 'capabilities', {}],
  ['GET', '/fhir/metadata', 'mode=full&_format=application/fhir%2Bjson', 'capabilities', { format: 'application/fhir+json' }],
  ['GET', '/fhir/$export', '_type=Patient', 'operation-system', { operation: 'export' }],
  ['POST', '/fhir/Patient/$export', '', 'operation-type', { operation: 'export', resourceType: 'Patient' }],
  ['GET', '/fhir/Group/g1/$export', '_since=2021-01-01T00:00:00Z', 'operation-instance', { operation: 'export', resourceType: 'Group', id: 'g1' }],
  ['GET', '/fhir/Patient/123/$everything', '', 'operation-instance', { operation: 'everything', resourceType: 'Patient', id: '123' }],
  ['POST', '/fhir/ValueSet/$validate-code', '', 'operation-type', { operation: 'validate-code' }],
];

test('every REST interaction: method × path × query', async (t) => {
  for (const [method, path, rawQuery, interaction, expect] of ROWS) {
    await t.test(`${method} ${path}${rawQuery === '' ? '' : '?' + rawQuery}`, () => {
      const req = ok({ method, path, rawQuery });
      assert.equal(req.interaction, interaction);
      assert.equal(req.method, method);
      for (const [k, v] of Object.entries(expect)) assert.deepEqual(req[k as keyof FhirRequest], v, k);
    });
  }
});

test('search criteria land in `search`; _format and _pretty never do', () => {
  const req = ok({ method: 'GET', path: '/fhir/Observation', rawQuery: 'patient=123&_format=xml&_pretty=false&_count=10' });
  assert.deepEqual(req.search.params.map((p) => p.name), ['patient']);
  assert.equal(req.search.result.count, 10);
  assert.equal(req.format, 'xml');
  assert.equal(req.pretty, false);
  assert.deepEqual(req.query, [['patient', '123'], ['_count', '10']]);
});

test('conditional update/delete criteria are parsed as a search on the type', () => {
  const req = ok({ method: 'DELETE', path: '/fhir/Observation', rawQuery: 'subject=Patient/7' });
  assert.equal(req.conditional, true);
  assert.deepEqual(req.search.params[0]?.values.map((v) => v.value), ['Patient/7']);
});

test('conditional create: If-None-Exist header becomes the search criteria', () => {
  const headers = new Map([['if-none-exist', 'identifier=http://mrn|42']]);
  const req = ok({ method: 'POST', path: '/fhir/Patient', rawQuery: '', headers });
  assert.equal(req.interaction, 'create');
  assert.equal(req.conditional, true);
  assert.equal(req.search.params[0]?.name, 'identifier');
  assert.equal(req.search.params[0]?.values[0]?.raw, 'http://mrn|42');
  for (const criteria of ['identifier=%ZZ', '', '_count=1', '_format=json']) {
    const bad = new Map([['if-none-exist', criteria]]);
    assert.equal(denied({ method: 'POST', path: '/fhir/Patient', rawQuery: '', headers: bad }), 'fhir_search_invalid', criteria);
  }
  const prefixed = new Map([['if-none-exist', 'Patient?identifier=x']]);
  assert.equal(ok({ method: 'POST', path: '/fhir/Patient', rawQuery: '', headers: prefixed }).search.params[0]?.name, 'identifier');
});

test('POST _search: parameters from query and form body, in that order', () => {
  const req = ok({
    method: 'POST',
    path: '/fhir/Observation/_search',
    rawQuery: 'patient=1',
    contentType: 'application/x-www-form-urlencoded; charset=UTF-8',
    body: enc('code=abc&patient=2'),
  });
  assert.deepEqual(req.search.params.map((p) => [p.name, p.values[0]?.raw]), [['patient', '1'], ['code', 'abc'], ['patient', '2']]);
  const sys = ok({ method: 'POST', path: '/fhir/_search', rawQuery: '', contentType: 'application/x-www-form-urlencoded', body: enc('_type=Patient') });
  assert.equal(sys.interaction, 'search-system');
  assert.equal(sys.search.params[0]?.name, '_type');
});

test('POST _search: wrong content type, partial body or bad form encoding are denied', () => {
  const base = { method: 'POST', path: '/fhir/Observation/_search', rawQuery: '' };
  assert.equal(denied({ ...base, contentType: 'application/json', body: enc('{}') }), 'fhir_content_type_unsupported');
  assert.equal(denied({ ...base, body: enc('a=b') }), 'fhir_content_type_unsupported');
  assert.equal(denied({ ...base, contentType: 'application/x-www-form-urlencoded; charset=latin1', body: enc('a=b') }), 'fhir_content_type_unsupported');
  assert.equal(denied({ ...base, contentType: 'application/x-www-form-urlencoded', body: enc('a=b'), bodyPartial: true }), 'request_body_too_large');
  assert.equal(denied({ ...base, contentType: 'application/x-www-form-urlencoded', body: enc('a=%C3%28') }), 'fhir_search_invalid');
  assert.equal(denied({ ...base, contentType: 'application/x-www-form-urlencoded', body: new Uint8Array([0x61, 0x3d, 0xff]) }), 'fhir_search_invalid');
});

test('a form body never counts as parameters for non-search interactions', () => {
  // POST Observation with a form body is a create; the body is the resource, not parameters.
  const req = ok({ method: 'POST', path: '/fhir/Observation', rawQuery: '', contentType: 'application/x-www-form-urlencoded', body: enc('subject=Patient/1') });
  assert.equal(req.interaction, 'create');
  assert.deepEqual(req.search.params, []);
});

const NEGATIVE: Array<[string, string, string, ReasonCode]> = [
  // path tricks
  ['GET', '/fhir/Patient%2F123', '', 'request_path_invalid'],
  ['GET', '/fhir/Patient/123%2F..%2F456', '', 'request_path_invalid'],
  ['GET', '/fhir/Patient/%31', '', 'request_path_invalid'],
  ['GET', '/fhir/Patient/../Observation/1', '', 'request_path_invalid'],
  ['GET', '/fhir/Patient/./123', '', 'request_path_invalid'],
  ['GET', '/fhir//Patient/123', '', 'request_path_invalid'],
  ['GET', '/fhir/Patient//123', '', 'request_path_invalid'],
  ['GET', '/fhir/Patient/123/', '', 'request_path_invalid'],
  ['GET', '/fhir/', '', 'request_path_invalid'],
  ['GET', '/fhirx/Patient/123', '', 'request_path_invalid'],
  ['GET', '/FHIR/Patient/123', '', 'request_path_invalid'],
  ['GET', '/other/fhir/Patient/123', '', 'request_path_invalid'],
  ['GET', '/fhir/Patient/123;x=1', '', 'request_path_invalid'],
  ['GET', '/fhir/Patient/123/_history/2/extra', '', 'request_path_invalid'],
  ['GET', '/fhir/Patient/123/Observation/5', '', 'request_path_invalid'],
  ['GET', `/fhir/Patient/${'a'.repeat(65)}`, '', 'request_path_invalid'],
  ['GET', `/fhir/Patient/1/_history/${'9'.repeat(65)}`, '', 'request_path_invalid'],
  ['GET', '/fhir/Patient/p\u00e9', '', 'request_path_invalid'],
  ['GET', '/fhir/Patient/1\u0000', '', 'request_path_invalid'],
  ['GET', '/fhir/Patient/a_b', '', 'request_path_invalid'],
  ['GET', '/fhir/Patient/$', '', 'request_path_invalid'],
  // unknown and mis-cased types
  ['GET', '/fhir/patient/123', '', 'fhir_resource_type_unknown'],
  ['GET', '/fhir/PATIENT', '', 'fhir_resource_type_unknown'],
  ['GET', '/fhir/Foo/1', '', 'fhir_resource_type_unknown'],
  ['GET', '/fhir/Resource/1', '', 'fhir_resource_type_unknown'],
  ['GET', '/fhir/DomainResource', '', 'fhir_resource_type_unknown'],
  ['GET', '/fhir/Patient/123/observation', '', 'fhir_resource_type_unknown'],
  // methods that do not fit the interaction
  ['POST', '/fhir/Patient/123', '', 'fhir_interaction_unknown'],
  ['PUT', '/fhir/Patient', '', 'fhir_interaction_unknown'],
  ['DELETE', '/fhir/Patient', '', 'fhir_interaction_unknown'],
  ['PATCH', '/fhir/Patient', '', 'fhir_interaction_unknown'],
  ['PUT', '/fhir/Patient', '_format=json', 'fhir_interaction_unknown'],
  ['DELETE', '/fhir/Patient/1/_history/2', '', 'fhir_interaction_unknown'],
  ['POST', '/fhir/metadata', '', 'fhir_interaction_unknown'],
  ['GET', '/fhir/Patient/_search', '', 'fhir_interaction_unknown'],
  ['GET', '/fhir/_search', '', 'fhir_interaction_unknown'],
  ['PUT', '/fhir', '', 'fhir_interaction_unknown'],
  ['OPTIONS', '/fhir/Patient/1', '', 'fhir_interaction_unknown'],
  ['TRACE', '/fhir/metadata', '', 'fhir_interaction_unknown'],
  ['get', '/fhir/Patient/1', '', 'fhir_interaction_unknown'],
  ['DELETE', '/fhir/Patient/$everything', '', 'fhir_interaction_unknown'],
  ['POST', '/fhir/Patient/1/Observation', '', 'fhir_interaction_unknown'],
  ['GET', '/fhir/Observation/1/Condition', '', 'fhir_interaction_unknown'],
  ['GET', '/fhir/_history/1', '', 'request_path_invalid'],
  // queries that do not belong to the interaction
  ['GET', '/fhir/Patient/1', 'name=x', 'fhir_search_invalid'],
  ['PUT', '/fhir/Patient/1', 'subject=Patient/2', 'fhir_search_invalid'],
  ['POST', '/fhir/Patient', 'identifier=x', 'fhir_search_invalid'],
  ['GET', '/fhir/Patient/1/_history', 'name=x', 'fhir_search_invalid'],
  ['GET', '/fhir/Patient/1', '_format=json&_format=xml', 'fhir_search_invalid'],
  ['GET', '/fhir/Patient/1', '_pretty=yes', 'fhir_search_invalid'],
  ['GET', '/fhir/Observation', 'patient=%E0%A4', 'fhir_search_invalid'],
  ['GET', '/fhir/Observation', 'patient=%2', 'fhir_search_invalid'],
  ['POST', '/fhir', '_type=Patient', 'fhir_search_invalid'],
  // conditional forms need real criteria, not just result parameters
  ['PUT', '/fhir/Patient', '_count=1', 'fhir_search_invalid'],
  ['DELETE', '/fhir/Observation', '_summary=count', 'fhir_search_invalid'],
];

test('negative paths and methods are denied with a stable reason', async (t) => {
  for (const [method, path, rawQuery, reason] of NEGATIVE) {
    await t.test(`${method} ${JSON.stringify(path)} ${rawQuery}`, () => {
      assert.equal(denied({ method, path, rawQuery }), reason);
    });
  }
});

test('base path variants: root base and trailing-slash configuration', () => {
  assert.equal(ok({ method: 'GET', path: '/Patient/1', rawQuery: '' }, { basePath: '' }).interaction, 'read');
  assert.equal(ok({ method: 'GET', path: '/Patient/1', rawQuery: '' }, { basePath: '/' }).interaction, 'read');
  assert.equal(ok({ method: 'GET', path: '/r4/fhir/Patient/1', rawQuery: '' }, { basePath: '/r4/fhir/' }).interaction, 'read');
  assert.equal(denied({ method: 'GET', path: '/r4/fhirPatient/1', rawQuery: '' }, { basePath: '/r4/fhir' }), 'request_path_invalid');
});

test('operations: named always; restricted to the configured catalogue when one is given', () => {
  const opts: ClassifyOptions = {
    ...OPTS,
    operations: {
      export: { levels: ['system', 'type', 'instance'], resourceTypes: ['Patient', 'Group'] },
      everything: { levels: ['instance'], resourceTypes: ['Patient'], methods: ['GET'] },
    },
  };
  assert.equal(ok({ method: 'GET', path: '/fhir/$export', rawQuery: '' }, opts).operation, 'export');
  assert.equal(ok({ method: 'GET', path: '/fhir/Patient/1/$everything', rawQuery: '' }, opts).operation, 'everything');
  assert.equal(denied({ method: 'POST', path: '/fhir/Patient/1/$everything', rawQuery: '' }, opts), 'fhir_operation_not_allowed');
  assert.equal(denied({ method: 'GET', path: '/fhir/Patient/$everything', rawQuery: '' }, opts), 'fhir_operation_not_allowed');
  assert.equal(denied({ method: 'GET', path: '/fhir/Observation/$export', rawQuery: '' }, opts), 'fhir_operation_not_allowed');
  assert.equal(denied({ method: 'POST', path: '/fhir/$graphql', rawQuery: '' }, opts), 'fhir_operation_not_allowed');
  assert.equal(denied({ method: 'GET', path: '/fhir/$1bad', rawQuery: '' }), 'request_path_invalid');
  // Operation parameters stay in `query`, not in `search`.
  const req = ok({ method: 'GET', path: '/fhir/$export', rawQuery: '_type=Patient,Observation&_since=2021' });
  assert.deepEqual(req.query, [['_type', 'Patient,Observation'], ['_since', '2021']]);
  assert.deepEqual(req.search.params, []);
});

const bundleBody = (type: string, entries: unknown[]): Uint8Array => enc(JSON.stringify({ resourceType: 'Bundle', type, entry: entries }));

test('batch and transaction POSTs classify every entry', () => {
  const req = ok({
    method: 'POST',
    path: '/fhir',
    rawQuery: '',
    contentType: 'application/fhir+json',
    body: bundleBody('batch', [
      { request: { method: 'GET', url: 'Patient/1' } },
      { request: { method: 'GET', url: 'Observation?patient=2' } },
    ]),
  });
  assert.equal(req.interaction, 'batch');
  assert.deepEqual(req.entries.map((e) => [e.index, e.request.interaction, e.request.id]), [[0, 'read', '1'], [1, 'search-type', undefined]]);
});

test('bundle POSTs without a usable body are denied', () => {
  const post = { method: 'POST', path: '/fhir', rawQuery: '' };
  assert.equal(denied(post), 'fhir_bundle_invalid');
  assert.equal(denied({ ...post, contentType: 'application/fhir+xml', body: enc('<Bundle/>') }), 'fhir_content_type_unsupported');
  assert.equal(denied({ ...post, contentType: 'application/fhir+json', body: bundleBody('batch', []), bodyPartial: true }), 'request_body_too_large');
  assert.equal(
    denied({ ...post, contentType: 'application/fhir+json', body: bundleBody('batch', [{ request: { method: 'GET', url: 'patient/1' } }]) }),
    'fhir_bundle_invalid',
  );
});

test('property: classify never throws and every denial is a catalogued reason', () => {
  const segment = fc.oneof(
    fc.constantFrom('Patient', 'Observation', 'patient', '123', '_history', '_search', 'metadata', '$export', '*', '..', '.', '', '%2F', 'a'.repeat(70)),
    fc.string({ maxLength: 12 }),
  );
  const path = fc.array(segment, { maxLength: 6 }).map((s) => `/fhir/${s.join('/')}`);
  const method = fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'get', '');
  const query = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('patient=1', '_has:Observation:patient:code=1', 'a=%ZZ', '_count=1&_count=2', 'x\\y=1'));
  const body = fc.option(fc.oneof(fc.uint8Array({ maxLength: 64 }), fc.json().map(enc)), { nil: undefined });
  const ctype = fc.option(fc.constantFrom('application/fhir+json', 'application/x-www-form-urlencoded', 'text/plain'), { nil: undefined });
  fc.assert(
    fc.property(method, fc.oneof(path, fc.string({ maxLength: 40 })), query, body, ctype, (m, p, q, b, c) => {
      const input: ClassifyInput = c === undefined ? { method: m, path: p, rawQuery: q, body: b } : { method: m, path: p, rawQuery: q, body: b, contentType: c };
      const r = classify(input, OPTS);
      if (!r.ok) assert.ok(isReasonCode(r.reason));
      else assert.ok(p === '/fhir' || p.startsWith('/fhir/'));
    }),
    { numRuns: 2000 },
  );
});

// pathSegments counts and slices segments with indexOf, and classification skips the
// _format/_pretty pass when no name can be one: held here to the straightforward readings.
function segmentsBySplit(path: string, basePath: string): string[] | ReasonCode {
  const base = basePath.replace(/\/+$/, '');
  if (path === base || (base === '' && path === '/')) return [];
  if (!path.startsWith(base + '/')) return 'request_path_invalid';
  const segs = path.slice(base.length + 1).split('/');
  if (segs.length > 4) return 'request_path_invalid';
  for (const s of segs) if (s === '' || s === '.' || s === '..' || !/^[A-Za-z0-9\-._$*]{1,64}$/.test(s)) return 'request_path_invalid';
  return segs;
}

test('property: pathSegments agrees with splitting on "/"', () => {
  const piece = fc.constantFrom('/', '//', 'fhir', 'Patient', '123', '.', '..', '$everything', '_history', '%2F', 'x'.repeat(65), '');
  fc.assert(
    fc.property(fc.array(piece, { maxLength: 8 }), fc.constantFrom('/fhir', '/fhir/', '', '/', '/a/b'), (parts, base) => {
      const path = parts.join('');
      assert.deepEqual(pathSegments(path, base), segmentsBySplit(path, base));
    }),
    { numRuns: 20000 },
  );
});

test('names that only start like _format/_pretty are search parameters; the controls come out', () => {
  const plain = ok({ method: 'GET', path: '/fhir/Observation', rawQuery: 'patient=1&_formatted=x' });
  assert.deepEqual(plain.query, [['patient', '1'], ['_formatted', 'x']]);
  assert.deepEqual(plain.search.params.map((p) => p.name), ['patient', '_formatted']);
  assert.equal(plain.format, undefined);
  const controls = ok({ method: 'GET', path: '/fhir/Observation', rawQuery: '_pretty=true&patient=1&_format=json' });
  assert.deepEqual(controls.query, [['patient', '1']]);
  assert.equal(controls.pretty, true);
  assert.equal(controls.format, 'json');
  assert.equal(ok({ method: 'GET', path: '/fhir/Observation', rawQuery: 'patient=1&_pretty=false' }).pretty, false);
  assert.equal(ok({ method: 'GET', path: '/fhir/Patient/1', rawQuery: '_format=xml' }).format, 'xml');
  assert.equal(denied({ method: 'GET', path: '/fhir/Observation', rawQuery: '_format:x=json' }), 'fhir_search_invalid');
  assert.equal(denied({ method: 'GET', path: '/fhir/Observation', rawQuery: '_pretty:x=true' }), 'fhir_search_invalid');
  assert.equal(denied({ method: 'GET', path: '/fhir/Observation', rawQuery: '_pretty=true&_pretty=false' }), 'fhir_search_invalid');
});
