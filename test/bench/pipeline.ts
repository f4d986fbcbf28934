#!/usr/bin/env node
/**
 * Where the CPU of one cached Check goes, in-process and without the network: the real
 * fhirgate-authz (Sidecar, same config as the Check benchmark, audit to a file) is started and
 * its CheckPipeline called directly with a CheckRequest decoded exactly as its gRPC server decodes
 * it. Reported per call, CPU µs (process.cpuUsage, so the audit writer's thread counts):
 *   - decode:   the CheckRequest wire bytes → object (src/envoy/codec.ts);
 *   - encode:   the CheckResponse → its gRPC frame, fhirgate's answer and the no-op server's
 *               fixed answer;
 *   - pipeline: CheckPipeline.check with the token cached (ingest → … → respond → record),
 *               with the audit event to a file and with audit off.
 * The gRPC transport (HTTP/2 streams, src/grpc/server.ts) is the rest; the Check benchmark measures the
 * whole. Use it to see which phase a change moved, not to state the targets.
 *
 *   node test/bench/pipeline.ts [--iterations 50000] [--json]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseConfig } from '../../src/authz/config.ts';
import { Sidecar } from '../../src/authz/sidecar.ts';
import { sidecarConfig } from '../../src/cli/dev/sidecar-config.ts';
import type { CheckRequest, CheckResponse } from '../../src/envoy/check-types.ts';
import { decodeCheckRequest, encodeCheckResponseFrame } from '../../src/envoy/codec.ts';
import { services } from '../../src/envoy/proto.ts';
import { createLogger } from '../../src/telemetry/logger.ts';
import { BenchIssuer } from './lib/bench-issuer.ts';
import { checkRequestObject } from './lib/check-request.ts';
import { OK_RESPONSE } from './noop-server.ts';
import { runIfMain } from './lib/proc.ts';

interface Figure {
  readonly name: string;
  readonly usPerCall: number;
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** CPU µs per call of `fn` over `n` calls (after n/10 warm-up calls). */
async function measure(n: number, fn: () => unknown): Promise<number> {
  for (let i = 0; i < Math.ceil(n / 10); i++) await fn();
  const c0 = cpuUs();
  for (let i = 0; i < n; i++) await fn();
  return (cpuUs() - c0) / n;
}

async function sidecarWith(work: string, issuer: BenchIssuer, audit: Record<string, unknown>): Promise<Sidecar> {
  const base = sidecarConfig({ issuer: issuer.issuer, audience: issuer.audience, addressFile: path.join(work, `addr-${Date.now()}.json`), maxBodyBytes: 65536, logLevel: 'warn' });
  const sidecar = await Sidecar.create({ config: parseConfig({ ...base, audit }), logger: createLogger({ level: 'warn' }) });
  await sidecar.start();
  return sidecar;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { iterations: { type: 'string', default: '50000' }, json: { type: 'boolean', default: false } }, strict: true });
  const n = Number(values.iterations);
  if (!Number.isInteger(n) || n < 100 || n > 10_000_000) throw new TypeError('--iterations must be an integer in 100..10000000');
  const work = mkdtempSync(path.join(tmpdir(), 'fhirgate-bench-pipeline-'));
  const issuer = await BenchIssuer.start();
  const sidecars: Sidecar[] = [];
  try {
    const [token] = await issuer.mint('patient-app', 1);
    if (token === undefined) throw new Error('minting failed');
    const method = services().authorization['Check'];
    if (method === undefined) throw new Error('no Check method');
    const wire = method.requestSerialize(checkRequestObject(token));
    const decode = (): CheckRequest => decodeCheckRequest(wire);

    const withAudit = await sidecarWith(work, issuer, { sink: 'file', file: path.join(work, 'audit.jsonl') });
    const noAudit = await sidecarWith(work, issuer, { sink: 'none' });
    sidecars.push(withAudit, noAudit);
    const request = decode();
    const answer: CheckResponse = await withAudit.pipeline.check(request);
    if (answer.ok_response === undefined) throw new Error('the benchmark request was denied; refusing to measure denials');

    const figures: Figure[] = [
      { name: 'decode CheckRequest (src/envoy/codec.ts)', usPerCall: await measure(n, decode) },
      { name: 'encode fhirgate CheckResponse, framed', usPerCall: await measure(n, () => encodeCheckResponseFrame(answer)) },
      { name: 'encode no-op CheckResponse, framed', usPerCall: await measure(n, () => encodeCheckResponseFrame(OK_RESPONSE)) },
      { name: 'pipeline, token cached, audit to file', usPerCall: await measure(n, () => withAudit.pipeline.check(request)) },
      { name: 'pipeline, token cached, audit off', usPerCall: await measure(n, () => noAudit.pipeline.check(request)) },
    ];
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ iterations: n, figures }, null, 2)}\n`);
    } else {
      for (const f of figures) process.stdout.write(`${f.usPerCall.toFixed(2).padStart(8)} µs CPU/call  ${f.name}\n`);
    }
  } finally {
    for (const s of sidecars) await s.stop();
    await issuer.close();
    rmSync(work, { recursive: true, force: true });
  }
}

runIfMain(import.meta.url, 'pipeline', main);
