/**
 * Policy distribution against the real API server: a real service account and a real
 * `kubectl create token --audience fhirgate-controller` token, checked by a real TokenReview in the
 * distribution server; a real fhirgate-authz Sidecar (in-process, controller mode) receives the
 * bundle built from a DesiredState filled here, and its Envoy-facing gRPC Check answers change
 * when the policy changes. The leader's cold-start snapshot lands in a real ConfigMap.
 * Opt-in like the other cluster tests (FHIRGATE_E2E_CLUSTER=1).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AuthenticationV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { DesiredState, canonicalJson, contentHash } from '../../../src/controller/desired-state.ts';
import { DistributionServer } from '../../../src/controller/distribution/server.ts';
import { SnapshotWriter, kubeConfigMapApi } from '../../../src/controller/distribution/snapshot.ts';
import { KubeTokenReviewer } from '../../../src/controller/distribution/token-review.ts';
import { parseConfig } from '../../../src/authz/config.ts';
import { Sidecar } from '../../../src/authz/sidecar.ts';
import type { CheckRequest, CheckResponse } from '../../../src/envoy/check-types.ts';
import { clientConstructor } from '../../../src/envoy/proto.ts';
import { silentLogger } from '../../../src/telemetry/logger.ts';
import { checkRequest } from '../../support/fixtures.ts';
import { EventLog, appliedHash, isApplied, isDisconnected, issuer, policy, signingIssuer } from '../../unit/distribution/helpers.ts';
import { BUILD_TIMEOUT_MS, clusterSkipReason, startTestCluster } from './harness.ts';
import type { TestCluster } from './harness.ts';

const skipReason = clusterSkipReason();

// The helpers' policies live in namespace ward-a: the sidecar's service account lives there too.
const NS = 'ward-a';
const SA = 'fhir-server';

describe('policy distribution with a real TokenReview', { skip: skipReason ?? false, timeout: BUILD_TIMEOUT_MS }, () => {
  let cluster: TestCluster;
  let server: DistributionServer;
  let address: string;
  const desired = new DesiredState();
  let writer: SnapshotWriter;
  let lastWrite: Promise<void> = Promise.resolve();
  const dir = mkdtempSync(join(tmpdir(), 'fhirgate-dist-e2e-'));

  before(async () => {
    cluster = await startTestCluster((m) => console.log(`# ${m}`));
    await cluster.kubectl(['create', 'namespace', NS]);
    await cluster.kubectl(['create', 'serviceaccount', '-n', NS, SA]);
    const kc = new KubeConfig();
    kc.loadFromFile(cluster.kubeconfig);
    server = new DistributionServer({
      address: '127.0.0.1:0',
      desired,
      reviewer: new KubeTokenReviewer(kc.makeApiClient(AuthenticationV1Api)),
      log: silentLogger,
    });
    writer = new SnapshotWriter({ api: kubeConfigMapApi(kc.makeApiClient(CoreV1Api)), isLeader: () => true, log: silentLogger });
    server.onBundle((b) => {
      lastWrite = writer.write(b);
    });
    address = await server.start();
  });

  after(async () => {
    writer?.close();
    await server?.stop(500);
    if (cluster === undefined) return;
    if (!cluster.startedHere) await cluster.kubectl(['delete', 'namespace', NS, '--wait=false']);
    await cluster.stop();
  });

  const token = async (sa: string, audience: string): Promise<string> => {
    const r = await cluster.kubectl(['create', 'token', '-n', NS, sa, '--audience', audience, '--duration', '10m']);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout.trim();
  };

  const sidecarFor = async (tokenValue: string, fetch?: typeof globalThis.fetch) => {
    const file = join(dir, `token-${Math.random()}`);
    writeFileSync(file, tokenValue);
    const config = parseConfig({
      listen: { grpc: '127.0.0.1:0', http: '127.0.0.1:0' },
      audit: { sink: 'none' },
      controller: { address, tokenFile: file, fhirBasePath: '/fhir', pod: 'fhir-0', backoff: { initialMs: 50, maxMs: 500 } },
    });
    const sidecar = await Sidecar.create({ config, logger: silentLogger, ...(fetch !== undefined ? { fetch } : {}) });
    const events = new EventLog(sidecar.subscriber!);
    return { sidecar, events };
  };

  it('refuses a token minted for another audience (real TokenReview)', async () => {
    desired.set('FhirAccessPolicy', NS, 'p', policy('p'));
    const { sidecar, events } = await sidecarFor(await token(SA, 'https://kubernetes.default.svc'));
    try {
      await sidecar.start();
      const refused = await events.wait(isDisconnected);
      assert.equal(refused.code, grpc.status.UNAUTHENTICATED);
      assert.equal(server.workloads().length, 0);
      assert.equal(sidecar.subscriber?.current(), undefined, 'no bundle was sent');
      assert.equal(sidecar.ready(), false, 'no bundle: not Ready');
    } finally {
      await sidecar.stop();
    }
  });

  it('a sidecar authenticated by its projected-style token gets its bundle; a policy change flips 200 → 403', async () => {
    const { fetch, token: jwt } = await signingIssuer();
    desired.set('TrustedIssuer', NS, 'idp', issuer);
    desired.set('FhirAccessPolicy', NS, 'p', policy('p'));
    const { sidecar, events } = await sidecarFor(await token(SA, 'fhirgate-controller'), fetch);
    const Client = clientConstructor('authorization');
    let client: grpc.Client | undefined;
    try {
      const { grpc: grpcAddress } = await sidecar.start();
      const first = contentHash(canonicalJson(desired.content(NS)));
      await events.wait(appliedHash(first));
      assert.ok(sidecar.ready());
      const w = server.workloads();
      assert.equal(w.length, 1);
      assert.equal(w[0]?.namespace, NS);
      assert.equal(w[0]?.serviceAccount, SA, 'identity from the TokenReview');

      client = new Client(grpcAddress, grpc.credentials.createInsecure());
      const c = client as unknown as { Check(r: CheckRequest, cb: (e: grpc.ServiceError | null, r?: CheckResponse) => void): void };
      const check = (r: CheckRequest) => new Promise<CheckResponse>((res, rej) => c.Check(r, (e, out) => (e ? rej(e) : res(out!))));
      const bearer = await jwt();
      const statusOf = async () => {
        const resp = await check(checkRequest({ path: '/fhir/Observation', headers: { authorization: `Bearer ${bearer}` } }));
        return resp.denied_response?.status?.code ?? (resp.status?.code === 0 ? 'OK' : resp.status?.code);
      };
      assert.equal(await statusOf(), 'OK');

      const from = events.events.length;
      desired.set('FhirAccessPolicy', NS, 'p', policy('p', { scopes: { levels: ['patient'] } }));
      await events.wait(isApplied, from);
      assert.equal(await statusOf(), 'Forbidden');

      // The leader's snapshot is in the real ConfigMap, hash-consistent with its content.
      const latest = contentHash(canonicalJson(desired.content(NS)));
      await lastWrite;
      assert.equal(writer.written(NS), latest);
      const cm = await cluster.kubectl(['get', 'configmap', '-n', NS, 'fhirgate-bundle', '-o', 'json']);
      assert.equal(cm.code, 0, cm.stderr);
      const data = (JSON.parse(cm.stdout) as { data: Record<string, string> }).data;
      assert.equal(data['hash'], latest);
      assert.equal(contentHash(data['bundle.json'] ?? ''), latest);
    } finally {
      client?.close();
      await sidecar.stop();
    }
  });
});
