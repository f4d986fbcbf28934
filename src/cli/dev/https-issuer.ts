/**
 * The demo personas' token issuer served over HTTPS, for everything that talks to the real
 * cluster: the cluster e2e tests and `fhirgate cluster-dev`.
 *
 * Why not the dev stack's DemoIssuer as is: it serves plain http, and a TrustedIssuer is https
 * only (CRD CEL rule + the controller's own check) — rightly, an http JWKS in a cluster lets
 * anyone on the path substitute keys. Rather than weaken that, a throwaway CA (openssl, short
 * validity, in a directory the caller owns) signs a certificate for 127.0.0.1, discovery + JWKS
 * are served with it, and the sidecar is started with NODE_EXTRA_CA_CERTS naming that CA. The
 * claims are the dev stack's personas (personas.ts) with `iss` = this issuer's https URL, signed
 * ES256 with `typ: at+jwt` like the demo issuer's. `GET /token/<persona>` hands out tokens so the
 * printed curl lines work without a login flow — a demo convenience, never a real issuer's API.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { persona } from './personas.ts';
import { closeNow } from './listen.ts';

export interface IssuerCa {
  /** PEM file of the CA certificate (for NODE_EXTRA_CA_CERTS and `curl --cacert`). */
  readonly caFile: string;
  readonly serverCert: Buffer;
  readonly serverKey: Buffer;
}

/**
 * A fresh CA and a server certificate for IP 127.0.0.1 / localhost, written under `dir` (which
 * the caller owns: a test's temp dir, or the cluster state dir). `days` bounds the damage if
 * the CA key ever leaves the machine; the default, one day, suits tests.
 */
export function makeIssuerCa(dir: string, days = 1): IssuerCa {
  if (!Number.isInteger(days) || days < 1 || days > 365) throw new RangeError('days must be 1..365');
  const f = (n: string) => join(dir, n);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const valid = String(days);
  openssl(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-subj', '/CN=fhirgate demo issuer CA', '-days', valid,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', ...ec, '-keyout', f('issuer.key'), '-out', f('issuer.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(f('issuer.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  openssl(['x509', '-req', '-in', f('issuer.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('issuer.crt'),
    '-days', valid, '-extfile', f('issuer.ext')]);
  return { caFile: f('ca.crt'), serverCert: readFileSync(f('issuer.crt')), serverKey: readFileSync(f('issuer.key')) };
}

export interface MintedToken {
  readonly token: string;
  readonly jti: string;
}

export class HttpsIssuer {
  readonly audience: string;
  readonly #server: https.Server;
  readonly #key: CryptoKey;
  readonly #jwk: JWK;
  readonly #kid: string;

  private constructor(audience: string, server: https.Server, key: CryptoKey, jwk: JWK, kid: string) {
    this.audience = audience;
    this.#server = server;
    this.#key = key;
    this.#jwk = jwk;
    this.#kid = kid;
  }

  /** Listen on 127.0.0.1:`port` (0 = any free port) with a new ES256 signing key. */
  static async start(ca: IssuerCa, audience: string, port = 0): Promise<HttpsIssuer> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    const holder: { self?: HttpsIssuer } = {};
    const server = https.createServer({ cert: ca.serverCert, key: ca.serverKey }, (req, res) => {
      const send = (status: number, body: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
      const self = holder.self;
      if (self === undefined || req.method !== 'GET') {
        send(404, { error: 'not_found' });
        return;
      }
      self.#route(new URL(req.url ?? '/', 'https://127.0.0.1').pathname).then(
        ([status, body]) => send(status, body),
        () => send(500, { error: 'server_error' }),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    holder.self = new HttpsIssuer(audience, server, privateKey, jwk, kid);
    return holder.self;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  get issuer(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  /** A token for a dev-stack persona, with its jti (for revocation tests). */
  async mint(personaName: string): Promise<MintedToken> {
    const p = persona(personaName);
    if (p === undefined) throw new TypeError(`unknown persona ${personaName}`);
    const iat = Math.floor(Date.now() / 1000);
    const jti = randomUUID();
    const claims: Record<string, unknown> = { sub: p.subject, client_id: p.clientId, scope: p.scopes.join(' '), jti };
    if (p.patient !== undefined) claims['patient'] = p.patient;
    if (p.fhirUser !== undefined) claims['fhirUser'] = p.fhirUser;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: this.#kid, typ: 'at+jwt' })
      .setIssuer(this.issuer)
      .setAudience(this.audience)
      .setIssuedAt(iat)
      .setExpirationTime(iat + 1800)
      .sign(this.#key);
    return { token, jti };
  }

  close(): Promise<void> {
    return closeNow(this.#server);
  }

  async #route(path: string): Promise<[number, unknown]> {
    if (path === '/.well-known/openid-configuration') {
      return [200, { issuer: this.issuer, jwks_uri: `${this.issuer}/jwks.json`, response_types_supported: ['token'], id_token_signing_alg_values_supported: ['ES256'] }];
    }
    if (path === '/jwks.json') return [200, { keys: [{ ...this.#jwk, kid: this.#kid, alg: 'ES256', use: 'sig' }] }];
    if (path.startsWith('/token/')) {
      let name: string;
      try {
        name = decodeURIComponent(path.slice('/token/'.length));
      } catch {
        return [400, { error: 'invalid_request' }];
      }
      if (persona(name) === undefined) return [400, { error: 'invalid_request' }];
      const { token } = await this.mint(name);
      return [200, { access_token: token, token_type: 'Bearer', expires_in: 1800 }];
    }
    return [404, { error: 'not_found' }];
  }
}
