/**
 * A tiny in-memory FHIR R4 server (JSON only) standing in for the real FHIR server behind Envoy in
 * the demo and the e2e tests. It supports what the demo needs — capabilities, read, type search by
 * `patient` / `subject` / `_id` with `_count`, and create — and records every request it receives
 * so tests can assert exactly what Envoy forwarded (normalized path, rewritten query, stripped
 * headers). DEVELOPMENT ONLY: no authentication of its own; it trusts whatever reaches it.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { capabilityStatement, sampleResources } from './fhir-data.ts';
import type { FhirResource } from './fhir-data.ts';
import { closeNow, listenLoopback } from './listen.ts';

/** What the server saw of one request. */
export interface SeenRequest {
  readonly method: string;
  /** Path exactly as received (before any decoding). */
  readonly path: string;
  /** Raw query string without '?', '' when none. */
  readonly query: string;
  /** Lower-cased header names → values (repeated headers joined by Node with ', '). */
  readonly headers: Readonly<Record<string, string>>;
  readonly bodyBytes: number;
}

export interface FhirServerOptions {
  /** Port on 127.0.0.1; 0 = ephemeral. Default 0. */
  readonly port?: number;
  /** FHIR base path. Default `/fhir`. */
  readonly basePath?: string;
  /** Largest accepted create body. Default 1 MiB. */
  readonly maxBodyBytes?: number;
}

const MAX_SEEN = 500;
const DEFAULT_COUNT = 50;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

export class FhirServer {
  readonly basePath: string;
  readonly #maxBody: number;
  readonly #resources = new Map<string, FhirResource>();
  readonly #seen: SeenRequest[] = [];
  #server: http.Server | undefined;
  #port: number;
  #total = 0;

  private constructor(opts: FhirServerOptions) {
    this.basePath = (opts.basePath ?? '/fhir').replace(/\/$/, '');
    this.#maxBody = opts.maxBodyBytes ?? 1024 * 1024;
    this.#port = opts.port ?? 0;
    for (const r of sampleResources()) this.#resources.set(`${r.resourceType}/${r.id}`, r);
  }

  static async create(opts: FhirServerOptions = {}): Promise<FhirServer> {
    const s = new FhirServer(opts);
    await s.#listen();
    return s;
  }

  get port(): number {
    return this.#port;
  }

  get baseUrl(): string {
    return `http://127.0.0.1:${this.#port}${this.basePath}`;
  }

  /** The most recent request, undefined before the first. */
  get lastRequest(): SeenRequest | undefined {
    return this.#seen.at(-1);
  }

  /** Recent requests, oldest first (the last 500). */
  get requests(): readonly SeenRequest[] {
    return [...this.#seen];
  }

  /** Total requests received since start. */
  get requestCount(): number {
    return this.#total;
  }

  async close(): Promise<void> {
    const server = this.#server;
    if (server === undefined) return;
    this.#server = undefined;
    await closeNow(server);
  }

  async #listen(): Promise<void> {
    const server = http.createServer((req, res) => {
      this.#handle(req, res).catch(() => {
        if (!res.headersSent) send(res, 500, outcome('exception', 'internal error'));
        else res.end();
      });
    });
    this.#port = await listenLoopback(server, this.#port);
    this.#server = server;
  }

  #record(req: http.IncomingMessage, bodyBytes: number): SeenRequest {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    }
    const seen: SeenRequest = {
      method: req.method ?? '',
      path: q < 0 ? raw : raw.slice(0, q),
      query: q < 0 ? '' : raw.slice(q + 1),
      headers,
      bodyBytes,
    };
    this.#total += 1;
    this.#seen.push(seen);
    if (this.#seen.length > MAX_SEEN) this.#seen.shift();
    return seen;
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const body = await readBody(req, this.#maxBody);
    const seen = this.#record(req, body?.length ?? -1);
    if (body === undefined) return send(res, 413, outcome('too-long', 'request body too large'));
    if (seen.path !== this.basePath && !seen.path.startsWith(`${this.basePath}/`)) {
      return send(res, 404, outcome('not-found', 'not a FHIR endpoint'));
    }
    const segments = seen.path.slice(this.basePath.length).split('/').filter((s) => s !== '');
    const params = new URLSearchParams(seen.query);
    const [type, id, ...rest] = segments;
    if (seen.method === 'GET' && type === 'metadata' && id === undefined) {
      return send(res, 200, capabilityStatement(`http://${seen.headers['host'] ?? '127.0.0.1'}${this.basePath}`));
    }
    if (type === undefined || !/^[A-Z][A-Za-z]+$/.test(type) || rest.length > 0) {
      return send(res, 400, outcome('not-supported', 'unsupported interaction'));
    }
    if (seen.method === 'GET' && id === undefined) return send(res, 200, this.#search(type, params));
    if (seen.method === 'GET' && id !== undefined) {
      const found = this.#resources.get(`${type}/${id}`);
      return found === undefined ? send(res, 404, outcome('not-found', `${type}/${id} not found`)) : send(res, 200, found);
    }
    if (seen.method === 'POST' && id === undefined) return this.#create(res, type, body);
    return send(res, 405, outcome('not-supported', 'method not supported'));
  }

  #search(type: string, params: URLSearchParams): FhirResource {
    const wanted = [...params.getAll('patient'), ...params.getAll('subject')].flatMap((v) => v.split(','));
    const ids = params.getAll('_id').flatMap((v) => v.split(','));
    const countParam = Number.parseInt(params.get('_count') ?? '', 10);
    const count = Number.isInteger(countParam) && countParam >= 0 ? Math.min(countParam, 1000) : DEFAULT_COUNT;
    const matches = [...this.#resources.values()].filter((r) => {
      if (r.resourceType !== type) return false;
      if (ids.length > 0 && !ids.includes(r.id)) return false;
      if (wanted.length === 0) return true;
      const subject = (r['subject'] as { reference?: string } | undefined)?.reference;
      const self = type === 'Patient' ? `Patient/${r.id}` : subject;
      return wanted.some((w) => self === w || self === `Patient/${w}`);
    });
    return {
      resourceType: 'Bundle',
      id: randomUUID(),
      type: 'searchset',
      total: matches.length,
      entry: matches.slice(0, count).map((r) => ({
        fullUrl: `${type}/${r.id}`,
        resource: r,
        search: { mode: 'match' },
      })),
    };
  }

  #create(res: http.ServerResponse, type: string, body: Buffer): void {
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      return send(res, 400, outcome('structure', 'body is not JSON'));
    }
    if (doc === null || typeof doc !== 'object' || (doc as { resourceType?: unknown }).resourceType !== type) {
      return send(res, 400, outcome('invalid', 'resourceType does not match the URL'));
    }
    const created = { ...(doc as Record<string, unknown>), resourceType: type, id: randomUUID(), meta: { versionId: '1' } };
    this.#resources.set(`${type}/${created.id}`, created);
    res.setHeader('location', `${this.basePath}/${type}/${created.id}/_history/1`);
    send(res, 201, created);
  }
}

function outcome(code: string, text: string): FhirResource {
  return { resourceType: 'OperationOutcome', id: randomUUID(), issue: [{ severity: 'error', code, diagnostics: text }] };
}

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': FHIR_JSON, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The whole body, or undefined when it exceeds `max` bytes. */
async function readBody(req: http.IncomingMessage, max: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > max) over = true;
    else chunks.push(buf);
  }
  return over ? undefined : Buffer.concat(chunks);
}
