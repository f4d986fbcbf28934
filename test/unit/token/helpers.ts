/**
 * Test fixtures for the token layer: a real issuer on 127.0.0.1:0 (discovery, JWKS,
 * introspection) that counts every request it receives, key pairs and token minting with jose,
 * and an HttpRequest builder.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK, JWTPayload } from 'jose';
import type { HttpRequest } from '../../../src/core/http.ts';

export interface TestKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

export async function makeKey(alg: string, kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg };
  return { kid, alg, privateKey, publicJwk };
}

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

export type Handler = (req: RecordedRequest, res: ServerResponse) => void;

/** A loopback HTTP server whose routes tests can change at any time; records every request. */
export class FakeIssuer {
  readonly requests: RecordedRequest[] = [];
  readonly routes = new Map<string, Handler>();
  #server: Server;
  url = '';

  constructor() {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rec: RecordedRequest = {
          method: req.method ?? '',
          path: req.url ?? '',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.requests.push(rec);
        const handler = this.routes.get(rec.path.split('?')[0] ?? '');
        if (handler === undefined) {
          res.writeHead(404).end();
          return;
        }
        handler(rec, res);
      });
    });
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
    return this;
  }

  count(path: string): number {
    return this.requests.filter((r) => r.path === path).length;
  }

  json(path: string, body: unknown, status = 200): void {
    this.routes.set(path, (_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
  }

  jwks(keys: readonly TestKey[], path = '/jwks'): void {
    this.json(path, { keys: keys.map((k) => k.publicJwk) });
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

/** Signs a token; `header` extras are merged into the protected header. */
export async function mint(
  key: TestKey,
  claims: JWTPayload & Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt', ...header }).sign(key.privateKey);
}

export const b64 = (s: string | Uint8Array): string => Buffer.from(s).toString('base64url');
export const b64json = (v: unknown): string => b64(JSON.stringify(v));

export interface RequestInit {
  readonly authorization?: string;
  readonly headers?: Record<string, string>;
  readonly duplicates?: string[];
  readonly rawQuery?: string;
  readonly body?: string;
  readonly peerCertificatePem?: string;
}

export function request(init: RequestInit = {}): HttpRequest {
  const headers = new Map<string, string>(Object.entries(init.headers ?? {}));
  if (init.authorization !== undefined) headers.set('authorization', init.authorization);
  return {
    method: 'GET',
    path: '/fhir/Patient/1',
    rawQuery: init.rawQuery ?? '',
    headers,
    duplicateHeaders: new Set(init.duplicates ?? []),
    body: init.body === undefined ? undefined : new TextEncoder().encode(init.body),
    bodyPartial: false,
    declaredSize: init.body === undefined ? -1 : init.body.length,
    host: 'fhir.example',
    scheme: 'https',
    protocol: 'HTTP/1.1',
    requestId: 'req-1',
    sourceAddress: '127.0.0.1:5000',
    peerCertificatePem: init.peerCertificatePem,
    traceparent: undefined,
  };
}

export const bearer = (token: string): HttpRequest => request({ authorization: `Bearer ${token}` });

/** Signs raw header/payload segments with WebCrypto, so tests can sign bytes jose would refuse to produce. */
export async function signRaw(key: TestKey, headerB64: string, payloadB64: string): Promise<string> {
  const input = new TextEncoder().encode(`${headerB64}.${payloadB64}`);
  const algo =
    key.alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : key.alg === 'RS256' ? { name: 'RSASSA-PKCS1-v1_5' } : undefined;
  if (algo === undefined) throw new TypeError(`signRaw: unsupported ${key.alg}`);
  const sig = new Uint8Array(await crypto.subtle.sign(algo, key.privateKey, input));
  return `${headerB64}.${payloadB64}.${b64(sig)}`;
}
