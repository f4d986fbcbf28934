/**
 * e2e harness: the dev stack (src/cli/dev/stack.ts — the same code `fhirgate dev` runs) on
 * ephemeral ports in a temp directory, plus what the tests need around it: raw HTTP requests that
 * keep the path byte-for-byte (fetch would normalize `/./` and `//` before Envoy ever sees them),
 * fault injection on the sidecar, and cleanup that always runs.
 */
import http from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startStack } from '../../src/cli/dev/stack.ts';
import type { Stack, StackOptions } from '../../src/cli/dev/stack.ts';

export interface RawResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
  /** Wall-clock milliseconds from sending to the end of the response. */
  readonly elapsedMs: number;
}

export interface RawRequest {
  readonly method?: string;
  /** Sent exactly as given (no normalization, no encoding). */
  readonly path: string;
  /** Header pairs; a name may repeat. */
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  readonly body?: Buffer | string;
  /** Client-side cap on the whole exchange. Default 10 s. */
  readonly timeoutMs?: number;
}

/** One HTTP/1.1 request on a fresh connection to 127.0.0.1:port. */
/** The reason code of a fhirgate denial's OperationOutcome body, or undefined. */
export function reasonOf(body: string): string | undefined {
  try {
    const doc = JSON.parse(body) as { issue?: Array<{ details?: { coding?: Array<{ code?: string }> } }> };
    return doc.issue?.[0]?.details?.coding?.[0]?.code;
  } catch {
    return undefined;
  }
}

export function rawRequest(port: number, req: RawRequest): Promise<RawResponse> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    // A raw header array keeps repeated names, but Node then adds no Host header by itself.
    const flat: string[] = [];
    if (!(req.headers ?? []).some(([k]) => k.toLowerCase() === 'host')) flat.push('host', `127.0.0.1:${port}`);
    for (const [k, v] of req.headers ?? []) flat.push(k, v);
    const r = http.request({
      host: '127.0.0.1',
      port,
      method: req.method ?? 'GET',
      path: req.path,
      headers: flat,
      agent: false,
      timeout: req.timeoutMs ?? 10_000,
    });
    r.on('timeout', () => r.destroy(new Error(`request ${req.path} timed out`)));
    r.on('error', reject);
    r.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          elapsedMs: performance.now() - started,
        }),
      );
    });
    r.end(req.body);
  });
}

export interface Harness extends Stack {
  readonly workDir: string;
  readonly envoyPort: number;
  /** A request through Envoy. */
  request(req: RawRequest): Promise<RawResponse>;
  /** A request through Envoy with a fresh token for the persona. */
  requestAs(persona: string, req: RawRequest): Promise<RawResponse>;
  /** The access log so far. */
  accessLog(): string;
  /** Stop everything and delete the temp directory. */
  close(): Promise<void>;
}

/** Start the stack on ephemeral ports. Call `close()` in `after` (it is idempotent). */
export async function startHarness(opts: Partial<Omit<StackOptions, 'workDir'>> = {}): Promise<Harness> {
  const workDir = mkdtempSync(path.join(tmpdir(), 'fhirgate-e2e-'));
  let stack: Stack;
  try {
    stack = await startStack({ ...opts, workDir, authzLogLevel: opts.authzLogLevel ?? 'warn' });
  } catch (err) {
    rmSync(workDir, { recursive: true, force: true });
    throw err;
  }
  const envoyPort = Number(new URL(stack.envoyUrl).port);
  let closed: Promise<void> | undefined;
  const request = (req: RawRequest): Promise<RawResponse> => rawRequest(envoyPort, req);
  return {
    ...stack,
    workDir,
    envoyPort,
    request,
    async requestAs(persona, req) {
      const token = await stack.issuer.mint(persona);
      return request({ ...req, headers: [['authorization', `Bearer ${token}`], ...(req.headers ?? [])] });
    },
    accessLog() {
      try {
        return readFileSync(stack.files.accessLog, 'utf8');
      } catch {
        return '';
      }
    },
    close() {
      closed ??= stack.stop().finally(() => rmSync(workDir, { recursive: true, force: true }));
      return closed;
    },
  };
}

/** The error text of a stack component, for assertion messages. */
export function diagnostics(h: Harness): string {
  return `--- fhirgate-authz ---\n${h.sidecar.output().split('\n').slice(-20).join('\n')}\n--- envoy ---\n${h.envoy
    .output()
    .split('\n')
    .slice(-20)
    .join('\n')}`;
}
