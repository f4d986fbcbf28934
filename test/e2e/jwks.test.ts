/**
 * The issuer's keys through the real stack: an outage is bridged by the cached keys up to the
 * max-stale bound and then denied with 503; a flood of tokens with unknown key ids costs the
 * issuer at most a couple of JWKS fetches. Each scenario has its own stack (different timings).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { SignJWT, generateKeyPair } from 'jose';
import { startHarness } from './harness.ts';
import type { Harness } from './harness.ts';
import { PERSONAS } from '../../src/cli/dev/personas.ts';

describe('JWKS outage', () => {
  // The smallest timings the sidecar's config schema accepts (both have a 10 s floor). The last
  // good fetch is at most REFRESH_S old when the outage starts, so the denial must come between
  // MAX_STALE_S - REFRESH_S and MAX_STALE_S seconds into the outage.
  const REFRESH_S = 10;
  const MAX_STALE_S = 20;
  let h: Harness;
  before(async () => {
    h = await startHarness({ jwks: { refreshSeconds: REFRESH_S, maxStaleSeconds: MAX_STALE_S, timeoutMs: 500, unknownKidCooldownSeconds: 1 } });
  });
  after(async () => {
    await h?.close();
  });

  it('keeps verifying with cached keys, then denies with 503 after max-stale, and recovers', async () => {
    // Fresh tokens every time: a verified-token cache must not mask the key state.
    const ok = await h.requestAs('clinician', { path: '/fhir/Observation' });
    assert.equal(ok.status, 200);
    await h.issuer.stop();
    const down = Date.now();
    const during = await h.requestAs('clinician', { path: '/fhir/Observation' });
    assert.equal(during.status, 200, 'cached keys should still verify right after the outage began');

    // Poll (bounded) until the sidecar gives up on the stale keys.
    let denied: { status: number; body: string } | undefined;
    const statuses: number[] = [];
    for (let i = 0; i < 4 * (MAX_STALE_S + 10) && denied === undefined; i++) {
      const res = await h.requestAs('clinician', { path: '/fhir/Observation' });
      statuses.push(res.status);
      if (res.status !== 200) denied = res;
      else await delay(250);
    }
    assert.ok(denied, `never denied during the outage: ${statuses.join(',')}`);
    assert.equal(denied.status, 503, denied.body);
    assert.match(denied.body, /issuer_keys_unavailable/);
    // Not before the stale bound (the last good fetch may predate the outage by one refresh).
    assert.ok(Date.now() - down >= (MAX_STALE_S - REFRESH_S - 1) * 1000, `denied after only ${Date.now() - down} ms`);
    // Stays denied while the issuer is down.
    assert.equal((await h.requestAs('clinician', { path: '/fhir/Observation' })).status, 503);

    await h.issuer.start();
    let status = 0;
    for (let i = 0; i < 4 * (REFRESH_S + 10) && status !== 200; i++) {
      status = (await h.requestAs('clinician', { path: '/fhir/Observation' })).status;
      if (status !== 200) await delay(250);
    }
    assert.equal(status, 200, 'did not recover after the issuer came back');
  });
});

describe('unknown-kid flood', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ jwks: { refreshSeconds: 300, maxStaleSeconds: 3600, unknownKidCooldownSeconds: 30 } });
  });
  after(async () => {
    await h?.close();
  });

  it('bounds JWKS fetches to at most 2 for 50 tokens with unknown kids, and denies all of them', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const clinician = PERSONAS['clinician'];
    assert.ok(clinician);
    const tokens = await Promise.all(
      Array.from({ length: 50 }, () =>
        new SignJWT(h.issuer.claimsFor(clinician))
          .setProtectedHeader({ alg: 'ES256', kid: randomUUID(), typ: 'at+jwt' })
          .sign(privateKey),
      ),
    );
    const before = h.issuer.requestCount('/jwks.json');
    const upstreamBefore = h.fhir.requestCount;
    // Ten at a time: concurrent enough to race the refetch logic, bounded in sockets.
    const statuses: number[] = [];
    for (let i = 0; i < tokens.length; i += 10) {
      const batch = tokens.slice(i, i + 10);
      const results = await Promise.all(
        batch.map((t) => h.request({ path: '/fhir/Observation', headers: [['authorization', `Bearer ${t}`]] })),
      );
      statuses.push(...results.map((r) => r.status));
    }
    assert.ok(statuses.every((s) => s === 401), `statuses: ${statuses.join(',')}`);
    const fetches = h.issuer.requestCount('/jwks.json') - before;
    assert.ok(fetches <= 2, `${fetches} JWKS fetches for 50 unknown kids`);
    assert.equal(h.fhir.requestCount, upstreamBefore);
    // The real key still works after the flood.
    assert.equal((await h.requestAs('clinician', { path: '/fhir/Observation' })).status, 200);
  });
});
