/** The distribution building blocks on their own: coalescing, TokenReview, snapshots, bundle validation. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { ManualClock } from '../../../src/core/clock.ts';
import { DesiredState, canonicalJson, contentHash } from '../../../src/controller/desired-state.ts';
import { BundleBook } from '../../../src/controller/distribution/bundles.ts';
import { Coalescer } from '../../../src/controller/distribution/coalesce.ts';
import type { Scheduler } from '../../../src/controller/distribution/coalesce.ts';
import { SnapshotWriter, readSnapshot } from '../../../src/controller/distribution/snapshot.ts';
import type { ConfigMapApi } from '../../../src/controller/distribution/snapshot.ts';
import { StreamAuthenticator, identityFromUsername } from '../../../src/controller/distribution/token-review.ts';
import { intersectCeilings, prepareBundle } from '../../../src/authz/bundle-apply.ts';
import { parseScope } from '../../../src/smart/scopes.ts';
import type { ResourceScope } from '../../../src/smart/scopes.ts';
import { principal } from '../../support/fixtures.ts';
import { FakeReviewer, NS, decide, isApplied, isRejected, issuer, policy, signingIssuer, startSubscriber } from './helpers.ts';

class ManualScheduler implements Scheduler {
  readonly timers = new Map<number, { fn: () => void; ms: number }>();
  #id = 0;
  set(fn: () => void, ms: number): unknown {
    this.timers.set(++this.#id, { fn, ms });
    return this.#id;
  }
  clear(h: unknown): void {
    this.timers.delete(h as number);
  }
  fireAll(): void {
    const due = [...this.timers.values()];
    this.timers.clear();
    for (const t of due) t.fn();
  }
}

describe('Coalescer', () => {
  it('flushes the first change at once, folds a burst into one trailing flush, per key', () => {
    const clock = new ManualClock();
    const sched = new ManualScheduler();
    const flushed: string[] = [];
    const c = new Coalescer(50, clock, sched, (k) => flushed.push(k));
    c.poke('a');
    assert.deepEqual(flushed, ['a']);
    clock.advance(10);
    for (let i = 0; i < 100; i++) c.poke('a');
    c.poke('b');
    assert.deepEqual(flushed, ['a', 'b']);
    assert.equal(sched.timers.size, 1);
    assert.equal([...sched.timers.values()][0]?.ms, 40);
    clock.advance(40);
    sched.fireAll();
    assert.deepEqual(flushed, ['a', 'b', 'a']);
    clock.advance(60);
    c.poke('a');
    assert.deepEqual(flushed, ['a', 'b', 'a', 'a']);
    c.poke('a');
    c.close();
    assert.equal(sched.timers.size, 0);
  });
});

describe('BundleBook', () => {
  it('versions move only when content changes, increase across namespaces, and hash the canonical bytes', () => {
    const d = new DesiredState();
    const book = new BundleBook(d, new ManualClock(1000));
    d.set('FhirAccessPolicy', NS, 'p', policy('p'));
    const a = book.rebuild(NS);
    assert.equal(a.changed, true);
    assert.equal(a.built.bundle.hash, contentHash(canonicalJson(d.content(NS))));
    assert.equal(book.rebuild(NS).changed, false);
    const other = book.rebuild('other');
    d.set('FhirAccessPolicy', NS, 'p', policy('p', { search: { maxCount: 5 } }));
    const b = book.rebuild(NS);
    assert.ok(Number(other.built.bundle.version) > Number(a.built.bundle.version));
    assert.ok(Number(b.built.bundle.version) > Number(other.built.bundle.version));
    assert.equal(book.byHash(NS, a.built.bundle.hash), a.built, 'recent bundles stay attributable');
    assert.equal(b.built.policies.size, 1);
  });
});

describe('StreamAuthenticator (TokenReview)', () => {
  const jwt = (exp: number) => `x.${Buffer.from(JSON.stringify({ exp })).toString('base64url')}.y`;

  it('derives the identity only from system:serviceaccount usernames', () => {
    assert.deepEqual(identityFromUsername('system:serviceaccount:ward-a:fhir'), { namespace: 'ward-a', serviceAccount: 'fhir' });
    for (const u of ['alice', 'system:node:n1', 'system:serviceaccount:ward-a', 'system:serviceaccount:Ward:x', 'system:serviceaccount:a:b:c', 'system:serviceaccount::x']) {
      assert.equal(identityFromUsername(u), undefined, u);
    }
  });

  it('caches a positive review until the token exp (bounded), never a negative one or an error', async () => {
    const clock = new ManualClock(Date.UTC(2026, 0, 1));
    const reviewer = new FakeReviewer();
    const now = clock.now() / 1000;
    const token = jwt(now + 120);
    reviewer.users.set(token, 'system:serviceaccount:ward-a:fhir');
    const auth = new StreamAuthenticator({ reviewer, audience: 'fhirgate-controller', clock, maxCacheSeconds: 600 });
    assert.deepEqual(await auth.authenticate([`Bearer ${token}`]), { namespace: 'ward-a', serviceAccount: 'fhir' });
    assert.ok(await auth.authenticate([`Bearer ${token}`]));
    assert.equal(reviewer.calls, 1, 'second stream served from the cache');
    clock.advance(121_000);
    reviewer.users.delete(token); // e.g. the pod was deleted
    assert.equal(await auth.authenticate([`Bearer ${token}`]), undefined);
    assert.equal(reviewer.calls, 2);
    assert.equal(await auth.authenticate([`Bearer ${token}`, `Bearer ${token}`]), undefined, 'two credentials');
    const failing = new StreamAuthenticator({
      reviewer: { review: () => Promise.reject(new Error('apiserver down')) },
      audience: 'fhirgate-controller',
      clock,
    });
    assert.equal(await failing.authenticate([`Bearer ${token}`]), undefined);
  });
});

describe('cold-start snapshot', () => {
  const memoryApi = () => {
    const store = new Map<string, { data: Record<string, string>; resourceVersion: string }>();
    let rv = 0;
    let failures = 0;
    const api: ConfigMapApi & { failNext(n: number): void; store: typeof store } = {
      store,
      failNext: (n) => {
        failures = n;
      },
      read: async (ns, name) => store.get(`${ns}/${name}`),
      create: async (ns, name, data) => {
        if (failures-- > 0) throw new Error('apiserver unavailable');
        if (store.has(`${ns}/${name}`)) throw new Error('exists');
        store.set(`${ns}/${name}`, { data, resourceVersion: String(++rv) });
      },
      replace: async (ns, name, data, resourceVersion) => {
        if (failures-- > 0) throw new Error('apiserver unavailable');
        if (store.get(`${ns}/${name}`)?.resourceVersion !== resourceVersion) throw new Error('conflict');
        store.set(`${ns}/${name}`, { data, resourceVersion: String(++rv) });
      },
    };
    return api;
  };

  it('the leader writes the latest bundle per namespace; followers do not; failures are retried', async () => {
    const d = new DesiredState();
    const book = new BundleBook(d, new ManualClock());
    d.set('FhirAccessPolicy', NS, 'p', policy('p'));
    const api = memoryApi();
    const sched = new ManualScheduler();
    let leader = false;
    const w = new SnapshotWriter({ api, isLeader: () => leader, scheduler: sched });
    await w.write(book.rebuild(NS).built);
    assert.equal(api.store.size, 0, 'a follower writes nothing');
    leader = true;
    const first = book.current(NS);
    await w.write(first);
    const cm = api.store.get(`${NS}/fhirgate-bundle`);
    assert.equal(cm?.data['hash'], first.bundle.hash);
    assert.equal(cm?.data['version'], first.bundle.version);
    assert.equal(contentHash(cm?.data['bundle.json'] ?? ''), first.bundle.hash);
    d.set('FhirAccessPolicy', NS, 'p', undefined);
    const second = book.rebuild(NS).built;
    api.failNext(1);
    await w.write(second);
    assert.equal(api.store.get(`${NS}/fhirgate-bundle`)?.data['hash'], first.bundle.hash, 'failed write left the old one');
    assert.equal(sched.timers.size, 1, 'a retry is scheduled');
    sched.fireAll();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    assert.equal(api.store.get(`${NS}/fhirgate-bundle`)?.data['hash'], second.bundle.hash);
    assert.equal(w.written(NS), second.bundle.hash);
    w.close();
  });

  const mount = (content: string, hash: string, version = '7') => {
    const dir = mkdtempSync(join(tmpdir(), 'fhirgate-snap-'));
    writeFileSync(join(dir, 'bundle.json'), content);
    writeFileSync(join(dir, 'hash'), hash);
    writeFileSync(join(dir, 'version'), version);
    return join(dir, 'bundle.json');
  };

  it('a sidecar that cannot reach the controller starts from a verified snapshot', async () => {
    const { fetch, token } = await signingIssuer();
    const d = new DesiredState();
    d.set('TrustedIssuer', NS, 'idp', issuer);
    d.set('FhirAccessPolicy', NS, 'p', policy('p'));
    const content = canonicalJson(d.content(NS));
    const file = mount(content, contentHash(content));
    assert.equal(readSnapshot(file).ok, true);
    // Port 9 on loopback: nothing listens, the stream never comes up.
    const { sub, log } = startSubscriber({ address: '127.0.0.1:9', snapshotFile: file }, fetch);
    try {
      await sub.start();
      const applied = await log.wait(isApplied);
      assert.equal(applied.source, 'snapshot');
      assert.ok(sub.ready());
      assert.equal((await decide(sub, await token())).kind, 'allow');
    } finally {
      sub.stop();
    }
  });

  it('a tampered snapshot is refused: not Ready, everything denied', async () => {
    const d = new DesiredState();
    d.set('FhirAccessPolicy', NS, 'p', policy('p'));
    const content = canonicalJson(d.content(NS));
    const tampered = content.replace('"fhirBasePath":"/fhir"', '"fhirBasePath":"/fhir","publicCapabilities":true');
    const file = mount(tampered, contentHash(content));
    assert.deepEqual(readSnapshot(file), { ok: false, reason: 'hash_mismatch' });
    assert.deepEqual(readSnapshot(mount(content, 'nothex')), { ok: false, reason: 'snapshot_invalid' });
    assert.deepEqual(readSnapshot('/nonexistent/bundle.json'), { ok: false, reason: 'snapshot_missing' });
    const { sub, log } = startSubscriber({ address: '127.0.0.1:9', snapshotFile: file });
    try {
      await sub.start();
      const r = await log.wait(isRejected);
      assert.equal(r.reason, 'hash_mismatch');
      assert.equal(sub.ready(), false);
      const denied = await decide(sub, undefined, '/fhir/metadata');
      assert.equal(denied.kind === 'deny' && denied.reason, 'policy_unavailable');
    } finally {
      sub.stop();
    }
  });
});

describe('prepareBundle', () => {
  const empty = { policies: [], issuers: [], clients: [], revocations: { jtis: [], subjects: [], clients: [] } };
  const raw = (content: unknown, version = '1') => {
    const bytes = Buffer.from(canonicalJson(content));
    return { version, hash: contentHash(bytes), content: bytes };
  };
  const scopes = (...xs: string[]) => xs.map((x) => parseScope(x) as ResourceScope);

  it('any change to the bytes under the original hash is a hash_mismatch', () => {
    const good = raw({ ...empty, policies: [policy('p')] });
    fc.assert(
      fc.property(fc.nat({ max: good.content.length - 1 }), fc.integer({ min: 1, max: 255 }), (i, x) => {
        const content = Buffer.from(good.content);
        content[i] = content[i]! ^ x;
        const r = prepareBundle({ ...good, content }, '/fhir');
        return !r.ok && r.reason === 'hash_mismatch';
      }),
      { numRuns: 200 },
    );
  });

  it('merges SmartClient ceilings with policy ceilings, never wider than either', () => {
    const both = intersectCeilings(scopes('patient/*.rs'), scopes('patient/Observation.r', 'user/Patient.r'));
    assert.deepEqual(both.map((s) => s.raw), ['patient/Observation.r']);
    const partial = intersectCeilings(scopes('patient/Observation.rs'), scopes('patient/*.r'));
    assert.deepEqual(partial.map((s) => s.raw), [], 'partial overlaps are dropped (deny), never widened');
    const r = prepareBundle(
      raw({
        ...empty,
        policies: [policy('p', { clients: [{ clientId: 'app', scopeCeiling: ['system/*.rs'] }] })],
        clients: [
          { clientId: 'app', scopeCeiling: ['system/Observation.rs'], requireCertificateBinding: false, certificateThumbprints: [], quarantined: false },
          { clientId: 'other', scopeCeiling: ['system/Patient.r'], requireCertificateBinding: true, certificateThumbprints: [], quarantined: false },
          { clientId: 'bad', scopeCeiling: [], requireCertificateBinding: false, certificateThumbprints: [], quarantined: true },
        ],
        issuers: [issuer],
      }),
      '/fhir',
    );
    assert.ok(r.ok);
    const ceilings = r.bundle.engine?.policy.clientCeilings;
    assert.deepEqual(ceilings?.get('app')?.map((s) => s.raw), ['system/Observation.rs']);
    assert.deepEqual(ceilings?.get('other')?.map((s) => s.raw), ['system/Patient.r']);
    assert.deepEqual(r.bundle.revocations.clients, ['bad'], 'quarantined clients are revoked');
    assert.deepEqual(r.bundle.tokenConfig?.issuers[0]?.certificateBoundClients, ['other']);
    // The engine enforces the merged ceiling: Patient is outside app's ceiling.
    const engine = r.bundle.engine!;
    const p = principal({ clientId: 'app', scopes: ['system/Patient.rs', 'system/Observation.rs'] });
    const req = (path: string) => ({ method: 'GET', path, rawQuery: '', headers: new Map(), duplicateHeaders: new Set<string>(), body: undefined, bodyPartial: false, declaredSize: -1, host: 'h', scheme: 'https', protocol: 'HTTP/1.1', requestId: 'r', sourceAddress: '', peerCertificatePem: undefined, traceparent: undefined });
    for (const [path, kind] of [['/fhir/Observation', 'allow'], ['/fhir/Patient', 'deny']] as const) {
      const m = engine.route(req(path));
      assert.equal(m.kind, 'protected');
      if (m.kind === 'protected') assert.equal(engine.authorize(req(path), m, p).kind, kind, path);
    }
  });

  it('no policy for this base path is a valid, deny-all bundle', () => {
    const r = prepareBundle(raw({ ...empty, policies: [policy('p', { fhirBasePath: '/other' })] }), '/fhir');
    assert.ok(r.ok);
    assert.equal(r.bundle.engine, undefined);
    const bad = prepareBundle({ ...raw(empty), version: '-1' }, '/fhir');
    assert.equal(!bad.ok && bad.reason, 'content_invalid');
  });
});
