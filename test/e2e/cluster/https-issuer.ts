/**
 * The demo personas' token issuer, served over HTTPS for the cluster tests.
 *
 * Why not the dev stack's DemoIssuer as is: it serves plain http, and a TrustedIssuer is https
 * only (CRD CEL rule + the controller's own check) — rightly, an http JWKS in a cluster lets
 * anyone on the path substitute keys. Rather than weaken that, the tests run a throwaway CA
 * (openssl, one-day validity, in the test's temp directory), serve discovery + JWKS with a
 * certificate for 127.0.0.1 signed by it, and start the sidecar with NODE_EXTRA_CA_CERTS naming
 * that CA. The claims are the dev stack's personas (src/cli/dev/personas.ts) with `iss` = this
 * issuer's https URL, signed ES256 with `typ: at+jwt` like the demo issuer's.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { persona } from '../../../src/cli/dev/personas.ts';

export interface TestCa {
  /** PEM file of the CA certificate (for NODE_EXTRA_CA_CERTS). */
  readonly caFile: string;
  readonly serverCert: Buffer;
  readonly serverKey: Buffer;
}

/** A CA and a server certificate for IP 127.0.0.1 / localhost, written under `dir`. */
export function makeTestCa(dir: string): TestCa {
  const f = (n: string) => join(dir, n);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-subj', '/CN=fhirgate e2e test CA', '-days', '1',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign']);
  openssl(['req', ...ec, '-keyout', f('issuer.key'), '-out', f('issuer.csr'), '-subj', '/CN=127.0.0.1']);
  writeFileSync(f('issuer.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n');
  openssl(['x509', '-req', '-in', f('issuer.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('issuer.crt'), '-days', '1', '-extfile', f('issuer.ext')]);
  return { caFile: f('ca.crt'), serverCert: readFileSync(f('issuer.crt')), serverKey: readFileSync(f('issuer.key')) };
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

  static async start(ca: TestCa, audience: string): Promise<HttpsIssuer> {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(jwk);
    const holder: { self?: HttpsIssuer } = {};
    const server = https.createServer({ cert: ca.serverCert, key: ca.serverKey }, (req, res) => {
      const path = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
      const send = (status: number, body: unknown) =>
        res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
      const self = holder.self;
      if (self === undefined || req.method !== 'GET') return send(404, { error: 'not_found' });
      if (path === '/.well-known/openid-configuration') {
        return send(200, { issuer: self.issuer, jwks_uri: `${self.issuer}/jwks.json`, response_types_supported: ['token'], id_token_signing_alg_values_supported: ['ES256'] });
      }
      if (path === '/jwks.json') return send(200, { keys: [{ ...self.#jwk, kid: self.#kid, alg: 'ES256', use: 'sig' }] });
      return send(404, { error: 'not_found' });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    holder.self = new HttpsIssuer(audience, server, privateKey, jwk, kid);
    return holder.self;
  }

  get issuer(): string {
    return `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  /** A token for a dev-stack persona; returns it with its jti (for revocation tests). */
  async mint(personaName: string): Promise<{ token: string; jti: string }> {
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
    return new Promise((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
