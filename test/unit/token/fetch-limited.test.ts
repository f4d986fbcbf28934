import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fetchLimited, isAllowedUrl } from '../../../src/token/fetch-limited.ts';
import { FakeIssuer } from './helpers.ts';

test('https only; http only to loopback when allowed; never user info', () => {
  assert.equal(isAllowedUrl('https://idp.example/jwks', false), true);
  assert.equal(isAllowedUrl('http://idp.example/jwks', false), false);
  assert.equal(isAllowedUrl('http://idp.example/jwks', true), false);
  assert.equal(isAllowedUrl('http://127.0.0.1:8080/jwks', false), false);
  assert.equal(isAllowedUrl('http://127.0.0.1:8080/jwks', true), true);
  assert.equal(isAllowedUrl('http://[::1]:8080/jwks', true), true);
  assert.equal(isAllowedUrl('http://127.0.0.1.evil.example/jwks', true), false);
  assert.equal(isAllowedUrl('https://user:pw@idp.example/jwks', false), false);
  assert.equal(isAllowedUrl('file:///etc/passwd', true), false);
  assert.equal(isAllowedUrl('not a url', true), false);
});

test('redirects are not followed', async (t) => {
  const srv = await new FakeIssuer().listen();
  t.after(() => srv.close());
  srv.routes.set('/r', (_req, res) => res.writeHead(302, { location: `${srv.url}/target` }).end());
  const r = await fetchLimited(fetch, `${srv.url}/r`, true, { timeoutMs: 1000, maxBytes: 1024 });
  assert.deepEqual(r, { ok: false, outcome: 'network_error' });
  assert.equal(srv.count('/target'), 0);
});

test('body cap applies to streamed bodies without content-length', async (t) => {
  const srv = await new FakeIssuer().listen();
  t.after(() => srv.close());
  srv.routes.set('/big', (_req, res) => {
    res.writeHead(200, { 'transfer-encoding': 'chunked' });
    for (let i = 0; i < 10; i++) res.write('x'.repeat(1000));
    res.end();
  });
  assert.deepEqual(await fetchLimited(fetch, `${srv.url}/big`, true, { timeoutMs: 1000, maxBytes: 4096 }), { ok: false, outcome: 'too_large' });
  const ok = await fetchLimited(fetch, `${srv.url}/big`, true, { timeoutMs: 1000, maxBytes: 20_000 });
  assert.ok(ok.ok && ok.body.length === 10_000);
});
