/**
 * Controller bundle server ⇄ sidecar subscriber over a real gRPC stream on 127.0.0.1:0, with a
 * fake TokenReview and a real DesiredState.
 */
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { canonicalJson, contentHash } from '../../../src/controller/desired-state.ts';
import { distributionClient } from '../../../src/controller/distribution/wire.ts';
import type { Bundle, SubscribeRequest } from '../../../src/controller/distribution/wire.ts';
import { compilePolicy } from '../../../src/policy/compile.ts';
import type { Subscriber } from '../../../src/authz/subscriber.ts';
import type { DistributionServer } from '../../../src/controller/distribution/server.ts';
import {
  NS,
  appliedHash,
  decide,
  isApplied,
  isDisconnected,
  isRejected,
  issuer,
  policy,
  signingIssuer,
  startServer,
  startSubscriber,
  tokenFile,
  untilStatus,
} from './helpers.ts';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const track = (server: DistributionServer, sub?: Subscriber) => {
  if (sub !== undefined) cleanups.push(() => sub.stop());
  cleanups.push(() => server.stop(200));
};

/** A raw client stream: what an unauthenticated (or hand-rolled) caller sees. */
function rawStream(address: string, authorization: string | undefined) {
  const Client = distributionClient();
  const client = new Client(address, grpc.credentials.createInsecure());
  const md = new grpc.Metadata();
  if (authorization !== undefined) md.set('authorization', authorization);
  const call = (client as unknown as { Subscribe(m: grpc.Metadata): grpc.ClientDuplexStream<SubscribeRequest, Bundle> }).Subscribe(md);
  const bundles: Bundle[] = [];
  call.on('data', (b: Bundle) => bundles.push(b));
  const status = new Promise<grpc.StatusObject | grpc.ServiceError>((resolve) => {
    call.on('error', resolve);
    call.on('status', resolve);
  });
  cleanups.push(() => client.close());
  return { call, bundles, status };
}

describe('distribution stream', () => {
  it('refuses a stream without a valid service-account token (UNAUTHENTICATED, no bundle)', async () => {
    const { server, address, desired, reviewer } = await startServer();
    track(server);
    desired.set('FhirAccessPolicy', NS, 'p', policy('p'));
    reviewer.users.set('user-token', 'alice'); // a person, not a service account
    reviewer.users.set('wrong-aud', `system:serviceaccount:${NS}:x`);
    for (const auth of [undefined, 'Bearer nope', 'Basic abc', 'Bearer user-token', 'Bearer a b']) {
      const s = rawStream(address, auth);
      s.call.write({ hello: { pod: 'evil' } });
      const st = await s.status;
      assert.equal(st.code, grpc.status.UNAUTHENTICATED, String(auth));
      assert.equal(s.bundles.length, 0);
    }
    // The API server answered for another audience: not ours.
    reviewer.audiences = ['https://kubernetes.default.svc'];
    const s = rawStream(address, 'Bearer wrong-aud');
    s.call.write({ hello: {} });
    assert.equal((await s.status).code, grpc.status.UNAUTHENTICATED);
    assert.equal(server.workloads().length, 0);
  });

  it('sends the namespace bundle after Hello and tracks the ACK', async () => {
    const { server, address, desired } = await startServer();
    desired.set('FhirAccessPolicy', NS, 'p', policy('p'));
    desired.set('FhirAccessPolicy', 'other-ns', 'q', { ...policy('q'), metadata: { name: 'q', namespace: 'other-ns' } });
    const { sub, log } = startSubscriber({ address });
    track(server, sub);
    await sub.start();
    const applied = await log.wait(isApplied);
    const expected = server.bundleFor(NS).bundle;
    assert.equal(applied.hash, expected.hash);
    assert.equal(applied.hash, contentHash(canonicalJson(desired.content(NS))));
    assert.equal(applied.policy?.startsWith('ward-a/p@'), true);
    assert.ok(sub.ready());
    await untilStatus(server, () => server.workloads()[0]?.ackedHash === expected.hash, 'ack');
    const w = server.workloads()[0]!;
    assert.deepEqual(
      { ns: w.namespace, sa: w.serviceAccount, pod: w.pod, v: w.ackedVersion, nack: w.nackReason },
      { ns: NS, sa: 'fhir-server', pod: 'fhir-0', v: expected.version, nack: undefined },
    );
    const r = compilePolicy(policy('p'));
    assert.ok(r.ok);
    assert.deepEqual(server.enforcedBy(NS, 'p', r.policy.hash), { current: 1, total: 1 });
    assert.deepEqual(server.enforcedBy(NS, 'p', 'f'.repeat(64)), { current: 0, total: 1 });
    assert.deepEqual(server.enforcedBy('other-ns', 'q', r.policy.hash), { current: 0, total: 0 });
  });

  it('pushes a new bundle on change, coalescing a burst and ending with the latest', async () => {
    const { server, address, desired } = await startServer({ coalesceMs: 50 });
    desired.set('FhirAccessPolicy', NS, 'p', policy('p'));
    const { sub, log } = startSubscriber({ address });
    track(server, sub);
    await sub.start();
    await log.wait(isApplied);
    const before = log.events.length;
    for (let i = 1; i <= 30; i++) desired.set('FhirAccessPolicy', NS, 'p', policy('p', { search: { maxCount: 10 + i } }));
    const latest = contentHash(canonicalJson(desired.content(NS)));
    await log.wait(appliedHash(latest), before);
    const appliedAfter = log.events.slice(before).filter(isApplied);
    assert.ok(appliedAfter.length <= 3, `burst of 30 changes produced ${appliedAfter.length} bundles`);
    assert.equal(appliedAfter.at(-1)?.hash, latest);
    const versions = appliedAfter.map((e) => BigInt(e.version));
    for (let i = 1; i < versions.length; i++) assert.ok(versions[i]! > versions[i - 1]!, 'versions increase');
  });

  it('a policy the sidecar cannot compile is NACKed and the old policy stays enforced', async () => {
    const { server, address, desired } = await startServer();
    const { fetch, token } = await signingIssuer();
    desired.set('TrustedIssuer', NS, 'idp', issuer);
    desired.set('FhirAccessPolicy', NS, 'p', policy('p'));
    const { sub, log } = startSubscriber({ address }, fetch);
    track(server, sub);
    await sub.start();
    const good = await log.wait(isApplied);
    const jwt = await token();
    assert.equal((await decide(sub, jwt)).kind, 'allow');
    // The desired state is fed directly: simulate a controller/sidecar version skew.
    desired.set('FhirAccessPolicy', NS, 'p', policy('p', { notAField: true }));
    const rejected = await log.wait(isRejected);
    assert.equal(rejected.reason, 'policy_invalid');
    await untilStatus(server, () => server.workloads()[0]?.nackReason === 'policy_invalid', 'nack');
    assert.equal(server.workloads()[0]?.ackedHash, good.hash, 'the ACKed version is still the old one');
    assert.equal(sub.current()?.hash, good.hash);
    assert.equal((await decide(sub, jwt)).kind, 'allow', 'old policy still enforced');
    const r = compilePolicy(policy('p'));
    assert.ok(r.ok);
    assert.deepEqual(server.enforcedBy(NS, 'p', r.policy.hash), { current: 1, total: 1 });
  });

  it('a deleted policy means deny with policy_unavailable, never allow (and the bundle is ACKed)', async () => {
    const { server, address, desired } = await startServer();
    const { fetch, token } = await signingIssuer();
    desired.set('TrustedIssuer', NS, 'idp', issuer);
    desired.set('FhirAccessPolicy', NS, 'p', policy('p'));
    const { sub, log } = startSubscriber({ address }, fetch);
    track(server, sub);
    await sub.start();
    await log.wait(isApplied);
    const jwt = await token();
    assert.equal((await decide(sub, jwt)).kind, 'allow');
    const from = log.events.length;
    desired.set('FhirAccessPolicy', NS, 'p', undefined);
    const applied = await log.wait(isApplied, from);
    assert.equal(applied.policy, undefined);
    const d = await decide(sub, jwt);
    assert.equal(d.kind, 'deny');
    assert.equal(d.kind === 'deny' && d.reason, 'policy_unavailable');
    await untilStatus(server, () => server.workloads()[0]?.ackedHash === applied.hash, 'ack of the empty bundle');
    assert.equal(server.workloads()[0]?.nackReason, undefined);
  });

  it('a policy change flips an answer from allow to deny; a revocation denies that token', async () => {
    const { server, address, desired } = await startServer();
    const { fetch, token } = await signingIssuer();
    desired.set('TrustedIssuer', NS, 'idp', issuer);
    desired.set('FhirAccessPolicy', NS, 'p', policy('p'));
    const { sub, log } = startSubscriber({ address }, fetch);
    track(server, sub);
    await sub.start();
    await log.wait(isApplied);
    const jwt = await token({ jti: 'revoke-me' });
    assert.equal((await decide(sub, jwt)).kind, 'allow');
    let from = log.events.length;
    desired.set('FhirAccessPolicy', NS, 'p', policy('p', { scopes: { levels: ['patient'] } }));
    await log.wait(isApplied, from);
    const d = await decide(sub, jwt);
    assert.equal(d.kind === 'deny' && d.reason, 'scope_insufficient');
    from = log.events.length;
    desired.set('FhirAccessPolicy', NS, 'p', policy('p'));
    desired.set('TokenRevocation', NS, 'r', { jtis: ['revoke-me'] });
    await log.wait(appliedHash(contentHash(canonicalJson(desired.content(NS)))), from);
    const revoked = await decide(sub, jwt);
    assert.equal(revoked.kind === 'deny' && revoked.reason, 'token_revoked');
    assert.equal((await decide(sub, await token())).kind, 'allow', 'other tokens unaffected');
  });

  it('keeps enforcing when the controller stops, and picks up the newest bundle on reconnect', async () => {
    const first = await startServer();
    const { fetch, token } = await signingIssuer();
    first.desired.set('TrustedIssuer', NS, 'idp', issuer);
    first.desired.set('FhirAccessPolicy', NS, 'p', policy('p'));
    const port = Number(first.address.split(':')[1]);
    const { sub, log } = startSubscriber({ address: first.address }, fetch);
    cleanups.push(() => sub.stop());
    await sub.start();
    await log.wait(isApplied);
    const jwt = await token();
    await first.server.stop(200);
    await log.wait(isDisconnected);
    assert.equal((await decide(sub, jwt)).kind, 'allow', 'last good bundle still enforced');
    assert.ok(sub.ready(), 'still Ready: it has a bundle');

    // A new controller on the same address with a newer desired state (patient-only).
    const second = await startServer({ address: `127.0.0.1:${port}` });
    cleanups.push(() => second.server.stop(200));
    second.desired.set('TrustedIssuer', NS, 'idp', issuer);
    second.desired.set('FhirAccessPolicy', NS, 'p', policy('p', { scopes: { levels: ['patient'] } }));
    const newest = contentHash(canonicalJson(second.desired.content(NS)));
    await log.wait(appliedHash(newest));
    const d = await decide(sub, jwt);
    assert.equal(d.kind === 'deny' && d.reason, 'scope_insufficient');
  });

  it('re-reads the token file on reconnect (projected tokens rotate)', async () => {
    const { server, address, desired, reviewer } = await startServer();
    track(server);
    desired.set('FhirAccessPolicy', NS, 'p', policy('p'));
    const file = tokenFile('not-yet-valid');
    const { sub, log } = startSubscriber({ address, tokenFile: file });
    cleanups.push(() => sub.stop());
    await sub.start();
    await log.wait(isDisconnected);
    assert.equal(sub.ready(), false, 'no bundle, not Ready');
    assert.equal((await decide(sub, 'x')).kind, 'deny');
    reviewer.users.set('rotated', `system:serviceaccount:${NS}:fhir-server`);
    writeFileSync(file, 'rotated\n');
    await log.wait(isApplied);
    assert.ok(sub.ready());
  });
});

describe('sidecar verification of what the controller sends', () => {
  /** A hand-rolled controller that sends whatever bundles the test gives it and records replies. */
  async function fakeController(bundles: Bundle[]) {
    const replies: SubscribeRequest[] = [];
    const server = new grpc.Server();
    const { distributionService } = await import('../../../src/controller/distribution/wire.ts');
    let notify: () => void = () => {};
    server.addService(distributionService(), {
      Subscribe: (call: grpc.ServerDuplexStream<SubscribeRequest, Bundle>) => {
        call.on('data', (m: SubscribeRequest) => {
          replies.push(m);
          notify();
          if (m.hello !== undefined) for (const b of bundles) call.write(b);
        });
      },
    });
    const port = await new Promise<number>((res, rej) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
    );
    cleanups.push(() => server.forceShutdown());
    const waitReplies = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${replies.length} replies`)), 5000);
        notify = () => {
          if (replies.length >= n) {
            clearTimeout(timer);
            resolve();
          }
        };
        notify();
      });
    return { address: `127.0.0.1:${port}`, replies, waitReplies };
  }

  const bundleOf = (content: unknown, version: string): Bundle => {
    const bytes = Buffer.from(canonicalJson(content));
    return { version, hash: contentHash(bytes), content: bytes, created_unix_ms: 1 };
  };
  const empty = { policies: [], issuers: [], clients: [], revocations: { jtis: [], subjects: [], clients: [] } };

  it('NACKs a hash mismatch and other malformed bundles, ACKs the good one, keeps the last good', async () => {
    const good = bundleOf({ ...empty, policies: [policy('p')] }, '10');
    const tampered = { ...bundleOf({ ...empty, policies: [policy('p', { scopes: { levels: ['patient'] } })] }, '11') };
    tampered.content = Buffer.from(canonicalJson({ ...empty, policies: [policy('evil', { publicCapabilities: true })] }));
    const dupKeys = Buffer.from('{"policies":[],"policies":[],"issuers":[],"clients":[],"revocations":{}}');
    const extraField = bundleOf({ ...empty, debugAllowAll: true }, '13');
    const twoPolicies = bundleOf({ ...empty, policies: [policy('a'), policy('b')] }, '14');
    const badIssuer = bundleOf({ ...empty, issuers: [{ issuer: 'ftp://x', audiences: ['a'] }] }, '15');
    const badClient = bundleOf({ ...empty, clients: [{ clientId: 'c', scopeCeiling: ['launch'] }] }, '16');
    const fake = await fakeController([
      good,
      tampered,
      { version: '12', hash: contentHash(dupKeys), content: dupKeys, created_unix_ms: 1 },
      extraField,
      twoPolicies,
      badIssuer,
      badClient,
    ]);
    const { sub } = startSubscriber({ address: fake.address });
    cleanups.push(() => sub.stop());
    await sub.start();
    await fake.waitReplies(8);
    const replies = fake.replies.slice(1).map((r) => (r.ack !== undefined ? `ack ${r.ack.version}` : `nack ${r.nack?.version} ${r.nack?.reason}`));
    assert.deepEqual(replies, [
      'ack 10',
      'nack 11 hash_mismatch',
      'nack 12 content_invalid',
      'nack 13 schema_invalid',
      'nack 14 policy_ambiguous',
      'nack 15 issuer_invalid',
      'nack 16 client_invalid',
    ]);
    assert.equal(sub.current()?.version, '10');
    assert.equal(sub.authorizer()?.id.startsWith('ward-a/p@'), true);
  });
});
