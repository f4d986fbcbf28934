/**
 * `fhirgate explain`: what the sidecar would answer for one request, and why. It runs the
 * sidecar's own Check pipeline (src/cli/shared/evaluate.ts) with the chosen policy document and a
 * credential (verified claims, a token verified for real with `--auth-config`, or a token decoded
 * without verification — said loudly). Exit 0 whenever it ran, whatever the decision; 2 for
 * usage and policy errors. The token is never printed.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { systemClock } from '../core/clock.ts';
import type { Clock } from '../core/clock.ts';
import { ConfigError, loadConfig } from '../authz/config.ts';
import type { AuthzConfig } from '../authz/config.ts';
import type { VerifyOutcome } from '../authz/verify.ts';
import { compilePolicy } from '../policy/compile.ts';
import { setUpCredential } from './shared/credential.ts';
import type { Credential } from './shared/credential.ts';
import { UsageError } from './shared/errors.ts';
import { evaluate } from './shared/evaluate.ts';
import type { Evaluation, RequestSummary } from './shared/evaluate.ts';
import { processIo } from './shared/io.ts';
import type { CliIo } from './shared/io.ts';
import { formatIssue, loadPolicies, selectPolicy } from './shared/policies.ts';
import type { PolicySource } from './shared/policies.ts';
import { parseHeaderArg, pathOf } from './shared/request.ts';

export const EXPLAIN_USAGE = `usage: fhirgate explain --policy FILE… (--token JWT | --claims JSON|@FILE) [options] METHOD URL

Shows what fhirgate-authz would answer for one request: decision, HTTP status, reason code,
the phase and rule that decided, query rewrites, obligations and the classified FHIR request.
The same pipeline as the sidecar runs; nothing is sent to the FHIR server.

options:
  --policy FILE       FhirAccessPolicy YAML (repeatable; the document whose fhirBasePath
                      prefixes URL applies). Default: the policy of --auth-config.
  --claims JSON|@FILE an already-verified claim set (JSON object), for policy debugging
  --token JWT         a bearer token: verified for real with --auth-config, otherwise its
                      claims are decoded WITHOUT verifying the signature (a warning says so)
  --auth-config FILE  a fhirgate-authz config file: its issuers verify --token, its claim
                      mappings apply to --claims, its body.maxBytes caps --body
  --header 'K: V'     a request header (repeatable; repeats are sent as repeats)
  --body FILE         request body (content-type defaults to application/fhir+json)
  --assume-instance match|no-match|unavailable
                      the FHIR server's answer to verify-instance obligations (default
                      match; the CLI never contacts the FHIR server)
  --json              print one JSON object instead of text
  -h, --help          show this help

URL is a path with query (/fhir/Observation?patient=123) or an absolute URL.
Exit status: 0 when the request was evaluated (allowed or denied), 2 on usage or policy errors.
`;

export interface ExplainArgs {
  readonly policyFiles: readonly string[];
  readonly credential: Credential;
  readonly authConfigFile: string | undefined;
  readonly headers: ReadonlyArray<readonly [string, string]>;
  readonly bodyFile: string | undefined;
  readonly method: string;
  readonly url: string;
  readonly assumeInstance: VerifyOutcome;
  readonly json: boolean;
  readonly help: boolean;
}

const METHOD = /^[A-Za-z]{3,10}$/;

function readClaims(arg: string): Record<string, unknown> {
  let text = arg;
  if (arg.startsWith('@')) {
    try {
      text = readFileSync(arg.slice(1), 'utf8');
    } catch (err) {
      throw new UsageError(`--claims: cannot read ${arg.slice(1)}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new UsageError('--claims must be a JSON object (or @file holding one)');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new UsageError('--claims must be a JSON object');
  return value as Record<string, unknown>;
}

/** Parses the command line; throws UsageError with a message for the operator. */
export function parseExplainArgs(argv: readonly string[]): ExplainArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        policy: { type: 'string', multiple: true },
        token: { type: 'string' },
        claims: { type: 'string' },
        'auth-config': { type: 'string' },
        header: { type: 'string', multiple: true, short: 'H' },
        body: { type: 'string' },
        'assume-instance': { type: 'string', default: 'match' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values, positionals } = parsed;
  const assume = values['assume-instance'];
  if (assume !== 'match' && assume !== 'no-match' && assume !== 'unavailable') throw new UsageError('--assume-instance must be match, no-match or unavailable');
  const base = { json: values.json, help: values.help, assumeInstance: assume as VerifyOutcome };
  if (values.help) {
    return { ...base, policyFiles: [], credential: { kind: 'none' }, authConfigFile: undefined, headers: [], bodyFile: undefined, method: '', url: '' };
  }
  if (positionals.length !== 2) throw new UsageError('expected METHOD and URL');
  const [method, url] = positionals as [string, string];
  if (!METHOD.test(method)) throw new UsageError(`METHOD must be an HTTP method, got ${JSON.stringify(method.slice(0, 20))}`);
  if (values.token !== undefined && values.claims !== undefined) throw new UsageError('give either --token or --claims, not both');
  if (values.token === undefined && values.claims === undefined) throw new UsageError('one of --token or --claims is required');
  const credential: Credential =
    values.token !== undefined ? { kind: 'token', token: values.token.trim() } : { kind: 'claims', claims: readClaims(values.claims ?? '') };
  if (credential.kind === 'token' && credential.token === '') throw new UsageError('--token is empty');
  return {
    ...base,
    policyFiles: values.policy ?? [],
    credential,
    authConfigFile: values['auth-config'],
    headers: (values.header ?? []).map(parseHeaderArg),
    bodyFile: values.body,
    method: method.toUpperCase(),
    url,
  };
}

/** The policy documents: from --policy, else the one the sidecar config names. */
function policiesFor(args: ExplainArgs, config: AuthzConfig | undefined): PolicySource[] {
  if (args.policyFiles.length > 0) return loadPolicies(args.policyFiles);
  if (config?.policyFile !== undefined) return loadPolicies([config.policyFile]);
  if (config?.policy !== undefined && args.authConfigFile !== undefined) {
    const r = compilePolicy(config.policy);
    if (!r.ok) throw new UsageError(`policy errors:\n  ${r.errors.map((e) => formatIssue(args.authConfigFile ?? '', 0, { path: `/policy${e.path}`, message: e.message })).join('\n  ')}`);
    return [{ file: args.authConfigFile, index: 0, policy: r.policy, warnings: r.warnings }];
  }
  throw new UsageError('--policy FILE is required');
}

function readBody(file: string | undefined): Uint8Array | undefined {
  if (file === undefined) return undefined;
  try {
    return new Uint8Array(readFileSync(file));
  } catch (err) {
    throw new UsageError(`--body: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

export interface ExplainDeps {
  readonly clock?: Clock;
  readonly fetch?: typeof fetch;
}

/** Evaluates the request the arguments describe. Throws UsageError for unusable input. */
export async function explain(args: ExplainArgs, deps: ExplainDeps = {}): Promise<Evaluation> {
  let config: AuthzConfig | undefined;
  if (args.authConfigFile !== undefined) {
    try {
      config = loadConfig({ file: args.authConfigFile });
    } catch (err) {
      if (err instanceof ConfigError) throw new UsageError(`--auth-config: ${err.message}`);
      throw err;
    }
  }
  const policy = selectPolicy(policiesFor(args, config), pathOf(args.url));
  const body = readBody(args.bodyFile);
  const credential = await setUpCredential(args.credential, {
    auth: config?.auth,
    clock: deps.clock ?? systemClock,
    ...(deps.fetch !== undefined ? { fetch: deps.fetch } : {}),
  });
  try {
    return await evaluate({
      policy,
      credential,
      request: { method: args.method, url: args.url, headers: args.headers, body },
      assumeInstance: args.assumeInstance,
      ...(config !== undefined ? { maxBodyBytes: config.body.maxBytes } : {}),
    });
  } finally {
    credential.close();
  }
}

/** The machine-readable form: stable field names, `undefined` fields omitted. */
export function explanationJson(e: Evaluation): Record<string, unknown> {
  return {
    decision: e.decision,
    status: e.status,
    reason: e.reason,
    reasonText: e.reasonText,
    phase: e.phase,
    rule: e.rule,
    rewrites: e.rewrites,
    obligations: e.obligations,
    ...(e.assumedInstance !== undefined ? { assumedInstance: e.assumedInstance } : {}),
    patients: e.patients,
    breakGlass: e.breakGlass,
    ...(e.wwwAuthenticate !== undefined ? { wwwAuthenticate: e.wwwAuthenticate } : {}),
    ...(e.requiredScope !== undefined ? { requiredScope: e.requiredScope } : {}),
    request: e.request ?? null,
    policy: e.policy,
    credential: e.credential,
    verified: e.verified,
    warnings: e.warnings,
  };
}

function requestLines(r: RequestSummary, indent: string): string[] {
  const lines = [
    `${indent}interaction: ${r.interaction} (${r.method})` +
      (r.resourceType !== undefined ? `  type: ${r.resourceType}` : '') +
      (r.id !== undefined ? `  id: ${r.id}` : '') +
      (r.versionId !== undefined ? `  version: ${r.versionId}` : '') +
      (r.operation !== undefined ? `  operation: $${r.operation}` : '') +
      (r.compartment !== undefined ? `  compartment: ${r.compartment}` : '') +
      (r.conditional ? '  (conditional)' : ''),
  ];
  if (r.params.length > 0) lines.push(`${indent}params: ${r.params.join('  ')}`);
  const result = Object.entries(r.resultParams);
  if (result.length > 0) lines.push(`${indent}result params: ${result.map(([k, v]) => `${k}=${v}`).join('  ')}`);
  r.entries.forEach((e, i) => lines.push(`${indent}entry[${i}]:`, ...requestLines(e, `${indent}  `)));
  return lines;
}

/** The human-readable form. */
export function formatExplanation(e: Evaluation, method: string, url: string): string {
  const row = (k: string, v: string): string => `${`${k}:`.padEnd(18)}${v}`;
  const lines: string[] = [...e.warnings];
  lines.push(row('policy', `${e.policy.id}  (${e.policy.file}, document ${e.policy.index})`));
  lines.push(row('credential', e.credential === 'claims' ? 'claims (treated as verified)' : e.credential === 'token' ? (e.verified ? 'token (verified with --auth-config)' : 'token (signature NOT verified)') : 'none'));
  lines.push(row('request', `${method} ${url}`));
  if (e.request !== undefined) lines.push(...requestLines(e.request, '  '));
  lines.push(row('decision', `${e.decision.toUpperCase()}${e.breakGlass ? ' (BREAK-GLASS)' : ''}`));
  lines.push(row('http status', e.decision === 'allow' ? '200 (forwarded; the FHIR server answers)' : String(e.status)));
  lines.push(row('reason', `${e.reason} — ${e.reasonText}`));
  lines.push(row('phase', e.phase));
  lines.push(row('rule', e.rule === '' ? '(default deny)' : e.rule));
  const obligationLines = (): void => {
    const note = e.assumedInstance === undefined ? '' : ` (FHIR server answer assumed: ${e.assumedInstance}; see --assume-instance)`;
    lines.push(row('obligations', e.obligations.length === 0 ? 'none' : note.trim()));
    for (const o of e.obligations) lines.push(`  ${o.kind} ${Object.entries(o.detail).map(([k, v]) => `${k}=${v}`).join(' ')}`);
  };
  if (e.decision === 'deny' && e.obligations.length > 0) obligationLines();
  if (e.decision === 'allow') {
    const set = Object.entries(e.rewrites.set);
    lines.push(row('rewrites', set.length === 0 && e.rewrites.remove.length === 0 ? 'none' : ''));
    for (const [k, v] of set) lines.push(`  set     ${k}=${v}`);
    for (const k of e.rewrites.remove) lines.push(`  remove  ${k}`);
    obligationLines();
    lines.push(row('patients', e.patients.length === 0 ? '(none named)' : e.patients.join(', ')));
  }
  if (e.requiredScope !== undefined) lines.push(row('would need scope', e.requiredScope));
  if (e.wwwAuthenticate !== undefined) lines.push(row('www-authenticate', e.wwwAuthenticate));
  return `${lines.join('\n')}\n`;
}

/** `fhirgate explain …` → exit code. */
export async function runExplain(argv: readonly string[], io: CliIo = processIo, deps: ExplainDeps = {}): Promise<number> {
  try {
    const args = parseExplainArgs(argv);
    if (args.help) {
      io.out(EXPLAIN_USAGE);
      return 0;
    }
    const e = await explain(args, deps);
    if (args.json) {
      io.out(`${JSON.stringify(explanationJson(e), null, 2)}\n`);
      for (const w of e.warnings) io.err(`${w}\n`);
    } else {
      io.out(formatExplanation(e, args.method, args.url));
    }
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`fhirgate explain: ${err.message}\n(run "fhirgate explain --help" for usage)\n`);
      return 2;
    }
    throw err;
  }
}
