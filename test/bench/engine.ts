/**
 * Micro-benchmark of the decision engine (issue 3): time per request for a realistic policy,
 * in-process, no transport. Two views:
 *   - engine: classify + authorize (PolicyEngine.route + authorize) for a mix of requests;
 *   - pipeline: the whole CheckPipeline.check (ingest → … → respond) with a cached-token
 *     authenticator, against the same pipeline with a no-op authorizer that allows everything —
 *     the difference is what the engine adds per request on a warm cache.
 * Usage: node test/bench/engine.ts [--iterations N] [--json]
 */
import { parseArgs } from 'node:util';
import { CheckPipeline } from '../../src/authz/pipeline.ts';
import { NO_REWRITES } from '../../src/core/decision.ts';
import type { Principal } from '../../src/core/principal.ts';
import type { Authorizer } from '../../src/policy/authorizer.ts';
import { PolicyEngine } from '../../src/policy/engine.ts';
import { loadPolicyText } from '../../src/policy/load.ts';
import { checkRequest, httpRequest, principal } from '../support/fixtures.ts';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '20000' }, json: { type: 'boolean', default: false } } });
const N = Number(values.iterations);

const POLICY = `
apiVersion: fhirgate.io/v1alpha1
kind: FhirAccessPolicy
metadata: { name: bench }
spec:
  fhirBasePath: /fhir
  patientCompartment: { instanceAccess: verify, narrowSearches: true, nonCompartmentTypes: [Medication, Practitioner, Organization] }
  search: { maxCount: 100, maxChainDepth: 1 }
  clients:
    - clientId: app
      scopeCeiling: [patient/*.rs, user/*.rs]
  consent:
    sensitive: [{ name: bh, resourceTypes: [Condition], categories: [behavioral], purposeOfUse: [TREAT] }]
  minimization:
    - { name: partner, clients: [partner], resourceTypes: [Patient], elements: [id, name, birthDate] }
`;
const loaded = loadPolicyText(POLICY, 'bench.yaml');
const first = loaded[0]?.result;
if (first === undefined || !first.ok) throw new Error('bench policy does not compile');
const engine = new PolicyEngine(first.policy);
engine.warmUp();

const patientApp: Principal = principal({ clientId: 'app', scopes: ['launch/patient', 'patient/Observation.rs', 'patient/Patient.r', 'patient/Condition.rs'], patient: 'pat-1' });
const clinician: Principal = principal({ clientId: 'app', scopes: ['user/*.rs'] });

const MIX: Array<{ name: string; method: string; path: string; query: string; p: Principal }> = [
  { name: 'search confined (patient=)', method: 'GET', path: '/fhir/Observation', query: 'patient=pat-1&code=http%3A%2F%2Floinc.org%7C8867-4&_count=50', p: patientApp },
  { name: 'search narrowed (rewrite)', method: 'GET', path: '/fhir/Observation', query: 'category=vital-signs&date=ge2026-01-01', p: patientApp },
  { name: 'Patient read (own)', method: 'GET', path: '/fhir/Patient/pat-1', query: '', p: patientApp },
  { name: 'instance read (verify obligation)', method: 'GET', path: '/fhir/Observation/obs-1', query: '', p: patientApp },
  { name: 'other patient (deny)', method: 'GET', path: '/fhir/Observation', query: 'patient=pat-2', p: patientApp },
  { name: 'clinician search with include', method: 'GET', path: '/fhir/Observation', query: 'subject=Patient%2Fp9&_include=Observation:subject:Patient', p: clinician },
];

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

/** Runs fn in batches of 100 and reports per-call µs percentiles over the batches and the mean. */
function measure(fn: () => void, iterations: number): { mean: number; p50: number; p99: number } {
  for (let i = 0; i < Math.min(2000, iterations); i++) fn();
  const batch = 100;
  const samples: number[] = [];
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i += batch) {
    const s = process.hrtime.bigint();
    for (let j = 0; j < batch; j++) fn();
    samples.push(Number(process.hrtime.bigint() - s) / 1e3 / batch);
  }
  const total = Number(process.hrtime.bigint() - t0) / 1e3;
  samples.sort((a, b) => a - b);
  return { mean: total / iterations, p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
}

const rows: Array<Record<string, string | number>> = [];
for (const r of MIX) {
  const req = httpRequest({ method: r.method, path: r.path, rawQuery: r.query });
  const m = measure(() => {
    const route = engine.route(req);
    if (route.kind === 'protected') engine.authorize(req, route, r.p);
  }, N);
  rows.push({ case: r.name, meanUs: round(m.mean), p50Us: round(m.p50), p99Us: round(m.p99) });
}

// Whole pipeline with the engine vs with an allow-all authorizer that neither classifies nor
// decides (same ingest/authenticate/respond/record): the difference is classify + authorize.
const preclassified = engine.route(httpRequest({ path: '/fhir/Observation', rawQuery: 'patient=pat-1&code=8867-4' }));
if (preclassified.kind !== 'protected') throw new Error('bench request does not classify');
const allowAll: Authorizer = {
  id: 'allow-all',
  route: () => preclassified,
  allowPublic: () => ({ kind: 'allow', reason: 'allowed', principal: undefined, rule: 'x', upstreamHeaders: [], query: NO_REWRITES, obligations: [], patients: [], breakGlass: false }),
  authorize: (_req, _m, p) => ({ kind: 'allow', reason: 'allowed', principal: p, rule: 'x', upstreamHeaders: [], query: NO_REWRITES, obligations: [], patients: [], breakGlass: false }),
};
const cached = { authenticate: async () => ({ ok: true as const, principal: patientApp, cached: true }) };
const mk = (a: Authorizer) =>
  new CheckPipeline({ authenticator: cached, authorizer: () => a, maxBodyBytes: 65536, record: () => undefined, verifier: { verify: async () => 'match' } });
const withEngine = mk(engine);
const baseline = mk(allowAll);
const check = checkRequest({ path: '/fhir/Observation?patient=pat-1&code=8867-4', headers: { authorization: 'Bearer x' } });

async function measureAsync(p: CheckPipeline, iterations: number): Promise<number> {
  for (let i = 0; i < 2000; i++) await p.check(check);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await p.check(check);
  return Number(process.hrtime.bigint() - t0) / 1e3 / iterations;
}
// Interleave to share the machine's noise between both arms.
let eng = 0;
let base = 0;
for (let round = 0; round < 4; round++) {
  base += await measureAsync(baseline, N / 4);
  eng += await measureAsync(withEngine, N / 4);
}
const pipelineRow = { engineUs: round(eng / 4), allowAllUs: round(base / 4), addedUs: round((eng - base) / 4) };

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

if (values.json) {
  process.stdout.write(JSON.stringify({ iterations: N, engine: rows, pipeline: pipelineRow }, null, 2) + '\n');
} else {
  process.stdout.write(`engine decision time per request (${N} iterations, µs; p50/p99 over batches of 100)\n`);
  for (const r of rows) process.stdout.write(`  ${String(r['case']).padEnd(36)} mean ${r['meanUs']}  p50 ${r['p50Us']}  p99 ${r['p99Us']}\n`);
  process.stdout.write(`pipeline.check with engine ${pipelineRow.engineUs} µs vs allow-all ${pipelineRow.allowAllUs} µs → engine adds ${pipelineRow.addedUs} µs\n`);
}
