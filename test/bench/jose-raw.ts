#!/usr/bin/env node
/**
 * jose's own RS256 verification rate (jwtVerify), in-process, over the same tokens the uncached
 * Check arm sends: the reference the uncached target is stated against (≥ 0.8× this rate
 * per core). fhirgate's token layer no longer verifies through jose (src/token/signature.ts calls
 * node:crypto synchronously on keys jose imported), so it can beat this rate.
 * One verification at a time, as the sidecar verifies one token per request; the key is imported
 * once up front, as the sidecar's key store does.
 *
 * With --auth-config it also runs fhirgate's own token layer (src/token Authenticator, the
 * sidecar's `auth` config, keys fetched from the issuer) over the same tokens in the same
 * process, which splits an uncached Check's cost into transport + pipeline, token layer, and jose.
 *
 *   node test/bench/jose-raw.ts --tokens FILE --jwks FILE --issuer ISS --audience AUD
 *        [--warmup N] [--auth-config FILE]
 *
 * FILE of tokens: JSON array of compact JWS strings. Prints one JSON line:
 *   {"verified": N, "cpuSeconds": s, "wallSeconds": s, "perCpuSecond": r, "usPerVerify": µs,
 *    "authn": {…same fields…} | null}
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { importJWK, jwtVerify } from 'jose';
import type { JWK } from 'jose';
import type { HttpRequest } from '../../src/core/http.ts';
import { ingest } from '../../src/envoy/ingest.ts';
import type { CheckRequest } from '../../src/envoy/check-types.ts';
import { Authenticator } from '../../src/token/authenticator.ts';
import type { TokenConfig } from '../../src/token/config.ts';
import { checkRequestObject } from './lib/check-request.ts';
import { runIfMain } from './lib/proc.ts';

export interface JoseRawResult {
  readonly verified: number;
  readonly cpuSeconds: number;
  readonly wallSeconds: number;
  readonly perCpuSecond: number;
  readonly usPerVerify: number;
}

export async function measureJoseRaw(
  tokens: readonly string[],
  jwk: JWK,
  opts: { issuer: string; audience: string; warmup: number },
): Promise<JoseRawResult> {
  const key = await importJWK(jwk, 'RS256');
  const verifyOpts = { issuer: opts.issuer, audience: opts.audience, algorithms: ['RS256'], typ: 'at+jwt', requiredClaims: ['exp'] };
  const warm = Math.min(opts.warmup, Math.floor(tokens.length / 4));
  for (let i = 0; i < warm; i++) await jwtVerify(tokens[i] as string, key, verifyOpts);
  const cpu0 = process.cpuUsage();
  const wall0 = process.hrtime.bigint();
  let n = 0;
  for (let i = warm; i < tokens.length; i++) {
    await jwtVerify(tokens[i] as string, key, verifyOpts);
    n++;
  }
  const cpu = process.cpuUsage(cpu0);
  const wallSeconds = Number(process.hrtime.bigint() - wall0) / 1e9;
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  return { verified: n, cpuSeconds, wallSeconds, perCpuSecond: n / cpuSeconds, usPerVerify: (cpuSeconds * 1e6) / n };
}

/**
 * fhirgate's token layer over the same tokens: Authenticator.authenticate on requests ingested
 * beforehand (so only the authenticate phase is timed). Each token is new to its cache.
 */
export async function measureAuthenticator(tokens: readonly string[], config: TokenConfig, warmup: number): Promise<JoseRawResult> {
  const authn = new Authenticator(config);
  await authn.start();
  try {
    if (!authn.ready()) throw new Error('token layer has no keys (JWKS fetch failed)');
    const requests: HttpRequest[] = tokens.map((t) => {
      const r = ingest(checkRequestObject(t) as CheckRequest);
      if (!r.ok) throw new Error(`benchmark request does not ingest: ${r.reason}`);
      return r.request;
    });
    const warm = Math.min(warmup, Math.floor(tokens.length / 4));
    const once = async (req: HttpRequest): Promise<void> => {
      const res = await authn.authenticate(req);
      if (!res.ok || res.cached) throw new Error(`token layer: expected a fresh verified token, got ${res.ok ? 'a cache hit' : res.reason}`);
    };
    for (let i = 0; i < warm; i++) await once(requests[i] as HttpRequest);
    const cpu0 = process.cpuUsage();
    const wall0 = process.hrtime.bigint();
    let n = 0;
    for (let i = warm; i < requests.length; i++) {
      await once(requests[i] as HttpRequest);
      n++;
    }
    const cpu = process.cpuUsage(cpu0);
    const wallSeconds = Number(process.hrtime.bigint() - wall0) / 1e9;
    const cpuSeconds = (cpu.user + cpu.system) / 1e6;
    return { verified: n, cpuSeconds, wallSeconds, perCpuSecond: n / cpuSeconds, usPerVerify: (cpuSeconds * 1e6) / n };
  } finally {
    authn.close();
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      tokens: { type: 'string' },
      jwks: { type: 'string' },
      issuer: { type: 'string' },
      audience: { type: 'string' },
      warmup: { type: 'string', default: '500' },
      'auth-config': { type: 'string' },
    },
    strict: true,
  });
  if (values.tokens === undefined || values.jwks === undefined || values.issuer === undefined || values.audience === undefined) {
    throw new TypeError('--tokens, --jwks, --issuer and --audience are required');
  }
  const tokens = JSON.parse(readFileSync(values.tokens, 'utf8')) as unknown;
  if (!Array.isArray(tokens) || tokens.length < 4 || !tokens.every((t) => typeof t === 'string')) {
    throw new TypeError('--tokens must be a JSON array of at least 4 token strings');
  }
  const set = JSON.parse(readFileSync(values.jwks, 'utf8')) as { keys?: JWK[] };
  const jwk = set.keys?.[0];
  if (jwk === undefined) throw new TypeError('--jwks has no key');
  const result = await measureJoseRaw(tokens as string[], jwk, {
    issuer: values.issuer,
    audience: values.audience,
    warmup: Number(values.warmup),
  });
  const authFile = values['auth-config'];
  const authn =
    authFile === undefined
      ? null
      : await measureAuthenticator(tokens as string[], JSON.parse(readFileSync(authFile, 'utf8')) as TokenConfig, Number(values.warmup));
  process.stdout.write(`${JSON.stringify({ ...result, authn })}\n`);
}

runIfMain(import.meta.url, 'jose-raw', main);
