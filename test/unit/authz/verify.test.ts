import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ManualClock } from '../../../src/core/clock.ts';
import { InstanceVerifier } from '../../../src/authz/verify.ts';

const ob = (id: string, criteria = 'patient=Patient%2Fp1') => ({ kind: 'verify-instance', detail: { resourceType: 'Observation', id, criteria } });

async function fhir(handler: (url: URL, auth: string | undefined) => { status: number; body: string; delayMs?: number }) {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    seen.push(url.search);
    const r = handler(url, req.headers.authorization);
    setTimeout(() => {
      res.writeHead(r.status, { 'content-type': 'application/fhir+json' });
      res.end(r.body);
    }, r.delayMs ?? 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
  return { base, seen, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const bundle = (total: number) => JSON.stringify({ resourceType: 'Bundle', type: 'searchset', total });

test('asks the FHIR server with _id, the criteria and _summary=count, forwarding the caller token', async () => {
  let auth: string | undefined;
  const s = await fhir((_u, a) => ((auth = a), { status: 200, body: bundle(1) }));
  try {
    const v = new InstanceVerifier({ baseUrl: s.base });
    assert.equal(await v.verify(ob('o1'), 'Bearer t'), 'match');
    assert.equal(s.seen[0], '?_id=o1&patient=Patient%2Fp1&_summary=count');
    assert.equal(auth, 'Bearer t');
  } finally {
    await s.close();
  }
});

test('total 0 is no-match; non-200, garbage, total > 1 and timeouts are unavailable (never match)', async () => {
  const replies: Record<string, { status: number; body: string; delayMs?: number }> = {
    zero: { status: 200, body: bundle(0) },
    err: { status: 500, body: '{}' },
    forbidden: { status: 403, body: bundle(1) },
    garbage: { status: 200, body: 'not json' },
    many: { status: 200, body: bundle(2) },
    notbundle: { status: 200, body: JSON.stringify({ resourceType: 'OperationOutcome', total: 1 }) },
    slow: { status: 200, body: bundle(1), delayMs: 400 },
    huge: { status: 200, body: JSON.stringify({ resourceType: 'Bundle', total: 1, pad: 'x'.repeat(100_000) }) },
  };
  const s = await fhir((u) => replies[u.searchParams.get('_id') ?? ''] ?? { status: 404, body: '' });
  try {
    const v = new InstanceVerifier({ baseUrl: s.base, timeoutMs: 100 });
    assert.equal(await v.verify(ob('zero'), undefined), 'no-match');
    for (const id of ['err', 'forbidden', 'garbage', 'many', 'notbundle', 'slow', 'huge']) {
      assert.equal(await v.verify(ob(id), undefined), 'unavailable', id);
    }
  } finally {
    await s.close();
  }
});

test('malformed obligation details are refused without a request', async () => {
  const s = await fhir(() => ({ status: 200, body: bundle(1) }));
  try {
    const v = new InstanceVerifier({ baseUrl: s.base });
    for (const detail of [
      { resourceType: 'Observation', id: '../x', criteria: 'patient=1' },
      { resourceType: 'observation', id: 'o1', criteria: 'patient=1' },
      { resourceType: 'Observation', id: 'o1', criteria: 'patient=1&_id=2#' },
      { resourceType: 'Observation', id: 'o1' },
    ]) {
      assert.equal(await v.verify({ kind: 'verify-instance', detail: detail as Record<string, string> }, undefined), 'unavailable');
    }
    assert.equal(s.seen.length, 0);
  } finally {
    await s.close();
  }
});

test('answers are cached for cacheSeconds and concurrent lookups share one request', async () => {
  const s = await fhir(() => ({ status: 200, body: bundle(1), delayMs: 20 }));
  try {
    const clock = new ManualClock();
    const v = new InstanceVerifier({ baseUrl: s.base, cacheSeconds: 30, clock });
    const all = await Promise.all(Array.from({ length: 10 }, () => v.verify(ob('o1'), undefined)));
    assert.deepEqual(new Set(all), new Set(['match']));
    assert.equal(s.seen.length, 1);
    await v.verify(ob('o1'), undefined);
    assert.equal(s.seen.length, 1);
    clock.advance(31_000);
    await v.verify(ob('o1'), undefined);
    assert.equal(s.seen.length, 2);
  } finally {
    await s.close();
  }
});
