/**
 * The token issuer of the Check benchmark: one RSA-2048 key (RS256 — the algorithm the targets
 * are stated for), discovery and JWKS on 127.0.0.1, and bulk minting of unique tokens. The demo
 * issuer (src/cli/dev/issuer.ts) signs ES256 only and mints one token per HTTP call, so the
 * benchmark keeps its own key but the demo's persona claims, so the sidecar sees the same tokens
 * the demo hands out, only signed with RS256.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK } from 'jose';
import type { JWK } from 'jose';
import { persona } from '../../../src/cli/dev/personas.ts';
import type { Persona } from '../../../src/cli/dev/personas.ts';
import { closeNow } from '../../../src/cli/dev/listen.ts';

export const BENCH_AUDIENCE = 'fhirgate-bench';
/** Below the demo sidecar config's 3600 s lifetime cap. */
const LIFETIME_SECONDS = 3000;

export class BenchIssuer {
  readonly audience = BENCH_AUDIENCE;
  readonly #privateKey: KeyObject;
  readonly #publicJwk: JWK;
  readonly #server: http.Server;
  #port = 0;

  private constructor(privateKey: KeyObject, publicJwk: JWK) {
    this.#privateKey = privateKey;
    this.#publicJwk = publicJwk;
    this.#server = http.createServer((req, res) => this.#handle(req, res));
  }

  /** Generate the key and listen on an ephemeral loopback port. */
  static async start(): Promise<BenchIssuer> {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    const issuer = new BenchIssuer(privateKey, { ...jwk, kid, alg: 'RS256', use: 'sig' });
    await new Promise<void>((resolve, reject) => {
      issuer.#server.once('error', reject);
      issuer.#server.listen(0, '127.0.0.1', () => resolve());
    });
    issuer.#port = (issuer.#server.address() as AddressInfo).port;
    return issuer;
  }

  get issuer(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** The public key set, as served at /jwks.json. */
  get jwks(): { keys: JWK[] } {
    return { keys: [this.#publicJwk] };
  }

  /**
   * `count` distinct tokens for a demo persona (distinct `jti`, so no two share a cache entry).
   * Signing is synchronous RSA underneath; ~1 ms per token on this machine size.
   */
  async mint(personaName: string, count: number): Promise<string[]> {
    if (!Number.isInteger(count) || count < 0 || count > 1_000_000) throw new TypeError('count must be 0..1e6');
    const p = persona(personaName);
    if (p === undefined) throw new TypeError(`unknown persona ${JSON.stringify(personaName)}`);
    const kid = this.#publicJwk.kid as string;
    const iat = Math.floor(Date.now() / 1000);
    const out: string[] = [];
    for (let i = 0; i < count; i++) {
      out.push(
        await new SignJWT(claims(this.issuer, this.audience, p, iat))
          .setProtectedHeader({ alg: 'RS256', kid, typ: 'at+jwt' })
          .sign(this.#privateKey),
      );
    }
    return out;
  }

  close(): Promise<void> {
    return closeNow(this.#server);
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    let body: unknown;
    if (req.method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
      body = { issuer: this.issuer, jwks_uri: `${this.issuer}/jwks.json`, id_token_signing_alg_values_supported: ['RS256'] };
    } else if (req.method === 'GET' && url.pathname === '/.well-known/smart-configuration') {
      body = { issuer: this.issuer, jwks_uri: `${this.issuer}/jwks.json`, capabilities: ['permission-v2'] };
    } else if (req.method === 'GET' && url.pathname === '/jwks.json') {
      body = this.jwks;
    }
    const text = JSON.stringify(body ?? { error: 'not_found' });
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(text);
  }
}

function claims(iss: string, aud: string, p: Persona, iat: number): Record<string, unknown> {
  const c: Record<string, unknown> = {
    iss,
    aud,
    sub: p.subject,
    client_id: p.clientId,
    scope: p.scopes.join(' '),
    jti: randomUUID(),
    iat,
    exp: iat + LIFETIME_SECONDS,
  };
  if (p.patient !== undefined) c['patient'] = p.patient;
  if (p.fhirUser !== undefined) c['fhirUser'] = p.fhirUser;
  return c;
}
