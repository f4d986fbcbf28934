/**
 * A small OIDC / SMART issuer for the local demo and the e2e tests. DEVELOPMENT ONLY: it hands a
 * signed access token to anyone who asks for a persona by name, on 127.0.0.1 only.
 *
 * Endpoints (issuer = `http://127.0.0.1:<port>`):
 *   GET  /.well-known/openid-configuration   OIDC discovery (issuer, jwks_uri, token_endpoint)
 *   GET  /.well-known/smart-configuration    SMART App Launch discovery
 *   GET  /jwks.json                          the public signing keys
 *   GET  /token/<persona>                    {access_token, token_type, expires_in, scope[, patient]}
 *   POST /token   (form body persona=<name>) same answer
 *
 * Tokens are ES256 JWTs with `typ: at+jwt` (RFC 9068) carrying iss, aud, sub, client_id, scope,
 * patient, fhirUser, jti, iat and exp = iat + 1 h. The e2e tests drive key rotation
 * (`rotateKey`) and outages (`stop` / `start` on the same port) and read per-path request counts.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose';
import type { CryptoKey, JWK } from 'jose';
import { systemClock } from '../../core/clock.ts';
import type { Clock } from '../../core/clock.ts';
import { PERSONAS, persona as findPersona } from './personas.ts';
import type { Persona } from './personas.ts';
import { closeNow, listenLoopback } from './listen.ts';

export interface DemoIssuerOptions {
  /** Audience every token carries (the FHIR server's identifier in the sidecar config). */
  readonly audience: string;
  /** Port on 127.0.0.1; 0 = ephemeral. Default 0. */
  readonly port?: number;
  /** Token lifetime in seconds. Default 3600. */
  readonly lifetimeSeconds?: number;
  readonly clock?: Clock;
}

export interface TokenResponse {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
  readonly scope: string;
  readonly patient?: string;
}

interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

const MAX_FORM_BYTES = 4096;

async function newSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(jwk);
  return { kid, privateKey, publicJwk: { ...jwk, kid, alg: 'ES256', use: 'sig' } };
}

export class DemoIssuer {
  readonly audience: string;
  readonly #lifetime: number;
  readonly #clock: Clock;
  readonly #counts = new Map<string, number>();
  #keys: SigningKey[];
  #server: http.Server | undefined;
  #port: number;

  private constructor(opts: DemoIssuerOptions, key: SigningKey) {
    this.audience = opts.audience;
    this.#lifetime = opts.lifetimeSeconds ?? 3600;
    this.#clock = opts.clock ?? systemClock;
    this.#keys = [key];
    this.#port = opts.port ?? 0;
  }

  /** Generate the first key and start listening. */
  static async create(opts: DemoIssuerOptions): Promise<DemoIssuer> {
    if (typeof opts.audience !== 'string' || opts.audience === '') throw new TypeError('audience is required');
    const issuer = new DemoIssuer(opts, await newSigningKey());
    await issuer.start();
    return issuer;
  }

  get port(): number {
    return this.#port;
  }

  /** The `iss` value and discovery base. */
  get issuer(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** The kid new tokens are signed with. */
  get currentKid(): string {
    return this.#current().kid;
  }

  get running(): boolean {
    return this.#server !== undefined;
  }

  /** Listen (again) — after `stop()` this reuses the same port so the configured issuer URL stays valid. */
  async start(): Promise<void> {
    if (this.#server !== undefined) return;
    const server = http.createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    this.#port = await listenLoopback(server, this.#port);
    this.#server = server;
  }

  /** Stop answering (simulated outage): the port refuses connections until `start()`. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    await closeNow(server);
  }

  /**
   * Generate a new signing key. The JWKS then publishes the new key and, unless `dropOld`, the
   * previous one too (a graceful rotation); with `dropOld` tokens signed earlier stop verifying
   * once the sidecar refreshes its keys.
   */
  async rotateKey(opts: { dropOld?: boolean } = {}): Promise<string> {
    const key = await newSigningKey();
    this.#keys = opts.dropOld === true ? [key] : [key, this.#current()];
    return key.kid;
  }

  /** Requests seen for a path (e.g. '/jwks.json'), counted whether or not they succeeded. */
  requestCount(path: string): number {
    return this.#counts.get(path) ?? 0;
  }

  /** Claims a token for this persona would carry (for tests that sign with their own keys). */
  claimsFor(p: Persona): Record<string, unknown> {
    const iat = Math.floor(this.#clock.now() / 1000);
    const claims: Record<string, unknown> = {
      iss: this.issuer,
      aud: this.audience,
      sub: p.subject,
      client_id: p.clientId,
      scope: p.scopes.join(' '),
      jti: randomUUID(),
      iat,
      exp: iat + this.#lifetime,
    };
    if (p.patient !== undefined) claims['patient'] = p.patient;
    if (p.fhirUser !== undefined) claims['fhirUser'] = p.fhirUser;
    return claims;
  }

  /** Mint a token for a persona without going through HTTP. */
  async mint(personaName: string): Promise<string> {
    const p = findPersona(personaName);
    if (p === undefined) throw new TypeError(`unknown persona ${JSON.stringify(personaName)}`);
    const key = this.#current();
    return new SignJWT(this.claimsFor(p))
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt' })
      .sign(key.privateKey);
  }

  #current(): SigningKey {
    const key = this.#keys[0];
    if (key === undefined) throw new Error('issuer has no signing key');
    return key;
  }

  async #tokenResponse(name: string): Promise<TokenResponse | undefined> {
    const p = findPersona(name);
    if (p === undefined) return undefined;
    const body: TokenResponse = {
      access_token: await this.mint(name),
      token_type: 'Bearer',
      expires_in: this.#lifetime,
      scope: p.scopes.join(' '),
      ...(p.patient === undefined ? {} : { patient: p.patient }),
    };
    return body;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    this.#counts.set(url.pathname, (this.#counts.get(url.pathname) ?? 0) + 1);
    const method = req.method ?? 'GET';
    if (method === 'GET' && url.pathname === '/.well-known/openid-configuration') {
      return json(res, 200, {
        issuer: this.issuer,
        jwks_uri: `${this.issuer}/jwks.json`,
        token_endpoint: `${this.issuer}/token`,
        response_types_supported: ['token'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['ES256'],
      });
    }
    if (method === 'GET' && url.pathname === '/.well-known/smart-configuration') {
      return json(res, 200, {
        issuer: this.issuer,
        jwks_uri: `${this.issuer}/jwks.json`,
        token_endpoint: `${this.issuer}/token`,
        grant_types_supported: ['client_credentials'],
        token_endpoint_auth_methods_supported: ['none'],
        scopes_supported: [...new Set(Object.values(PERSONAS).flatMap((p) => p.scopes))],
        capabilities: ['launch-standalone', 'context-standalone-patient', 'permission-v2', 'permission-patient', 'permission-user'],
      });
    }
    if (method === 'GET' && url.pathname === '/jwks.json') {
      return json(res, 200, { keys: this.#keys.map((k) => k.publicJwk) });
    }
    if (method === 'GET' && url.pathname.startsWith('/token/')) {
      const body = await this.#tokenResponse(decodeURIComponent(url.pathname.slice('/token/'.length)));
      return body === undefined ? json(res, 400, { error: 'invalid_request' }) : json(res, 200, body);
    }
    if (method === 'POST' && url.pathname === '/token') {
      const form = await readForm(req);
      const body = form === undefined ? undefined : await this.#tokenResponse(form.get('persona') ?? '');
      return body === undefined ? json(res, 400, { error: 'invalid_request' }) : json(res, 200, body);
    }
    json(res, 404, { error: 'not_found' });
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

/** A small urlencoded form body, or undefined when it is too large. */
async function readForm(req: http.IncomingMessage): Promise<URLSearchParams | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(buf);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
