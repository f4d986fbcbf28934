import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import type { JSONWebKeySet } from 'jose';
import { HttpsIssuer, makeIssuerCa } from '../../../src/cli/dev/https-issuer.ts';
import type { IssuerCa } from '../../../src/cli/dev/https-issuer.ts';
import { persona } from '../../../src/cli/dev/personas.ts';

const AUD = 'fhirgate-test';
const dir = mkdtempSync(join(tmpdir(), 'fhirgate-https-issuer-'));
let ca: IssuerCa;
let caPem: Buffer;
let issuer: HttpsIssuer;

/** GET over TLS trusting only the throwaway CA (the way the sidecar does with NODE_EXTRA_CA_CERTS). */
function get(path: string, trust: Buffer | undefined): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.get(`${issuer.issuer}${path}`, { ...(trust === undefined ? {} : { ca: trust }), timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown> }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

before(async () => {
  ca = makeIssuerCa(dir);
  caPem = readFileSync(ca.caFile);
  issuer = await HttpsIssuer.start(ca, AUD);
});
after(async () => {
  await issuer.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('HttpsIssuer', () => {
  it('serves discovery over https with a certificate only its CA vouches for', async () => {
    assert.match(issuer.issuer, /^https:\/\/127\.0\.0\.1:\d+$/);
    const d = await get('/.well-known/openid-configuration', caPem);
    assert.equal(d.status, 200);
    assert.equal(d.body['issuer'], issuer.issuer);
    assert.equal(d.body['jwks_uri'], `${issuer.issuer}/jwks.json`);
    await assert.rejects(get('/jwks.json', undefined), /self-signed|unable to verify|certificate/);
  });

  it('GET /token/<persona> returns a token that verifies against its JWKS with the persona claims', async () => {
    const t = await get('/token/patient-app', caPem);
    assert.equal(t.status, 200);
    const token = t.body['access_token'];
    assert.equal(typeof token, 'string');
    const keys = createLocalJWKSet((await get('/jwks.json', caPem)).body as unknown as JSONWebKeySet);
    const { payload } = await jwtVerify(token as string, keys, { issuer: issuer.issuer, audience: AUD, typ: 'at+jwt', algorithms: ['ES256'] });
    const p = persona('patient-app');
    assert.equal(payload['client_id'], p?.clientId);
    assert.equal(payload['scope'], p?.scopes.join(' '));
    assert.equal(payload['patient'], p?.patient);
    assert.equal(decodeProtectedHeader(token as string).alg, 'ES256');
  });

  it('mint gives distinct jtis; unknown personas, bad escapes and other paths are refused', async () => {
    const a = await issuer.mint('clinician');
    const b = await issuer.mint('clinician');
    assert.notEqual(a.jti, b.jti);
    await assert.rejects(issuer.mint('nobody'), TypeError);
    assert.equal((await get('/token/nobody', caPem)).status, 400);
    assert.equal((await get('/token/%E0%A4%A', caPem)).status, 400);
    assert.equal((await get('/token/__proto__', caPem)).status, 400);
    assert.equal((await get('/admin', caPem)).status, 404);
  });

  it('makeIssuerCa refuses a validity outside 1..365 days', () => {
    assert.throws(() => makeIssuerCa(dir, 0), RangeError);
    assert.throws(() => makeIssuerCa(dir, 366), RangeError);
    assert.throws(() => makeIssuerCa(dir, 1.5), RangeError);
  });
});
