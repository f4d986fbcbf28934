/**
 * Outbound HTTP for the token layer (discovery, JWKS, introspection): one place that enforces a
 * timeout, a response size cap, no redirects and the https-only rule, and that turns every
 * failure into an outcome value instead of an exception.
 */

export type FetchOutcome = 'ok' | 'timeout' | 'network_error' | 'too_large' | 'insecure_url';

export type LimitedResponse =
  | { readonly ok: true; readonly status: number; readonly contentType: string; readonly body: Uint8Array }
  | { readonly ok: false; readonly outcome: Exclude<FetchOutcome, 'ok'> };

export interface LimitedRequest {
  readonly method?: 'GET' | 'POST';
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly timeoutMs: number;
  readonly maxBytes: number;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);

/**
 * True when the URL may be fetched: https, or http to a loopback host when explicitly allowed.
 * URLs with user info are refused (credentials never travel in URLs).
 */
export function isAllowedUrl(raw: string, allowInsecureLoopback: boolean): boolean {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return false;
  }
  if (url.username !== '' || url.password !== '') return false;
  if (url.protocol === 'https:') return true;
  return url.protocol === 'http:' && allowInsecureLoopback && LOOPBACK_HOSTS.has(url.hostname);
}

export async function fetchLimited(
  fetchImpl: typeof fetch,
  url: string,
  allowInsecureLoopback: boolean,
  req: LimitedRequest,
): Promise<LimitedResponse> {
  if (!isAllowedUrl(url, allowInsecureLoopback)) return { ok: false, outcome: 'insecure_url' };
  const signal = AbortSignal.timeout(req.timeoutMs);
  let res: Response;
  try {
    res = await fetchImpl(url, {
      method: req.method ?? 'GET',
      headers: { accept: 'application/json', ...req.headers },
      body: req.body,
      redirect: 'error',
      signal,
    });
  } catch {
    return { ok: false, outcome: signal.aborted ? 'timeout' : 'network_error' };
  }
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (Number.isFinite(declared) && declared > req.maxBytes) {
    await res.body?.cancel().catch(() => undefined);
    return { ok: false, outcome: 'too_large' };
  }
  const body = await readCapped(res, req.maxBytes, signal);
  if (!body.ok) return body;
  return { ok: true, status: res.status, contentType: res.headers.get('content-type') ?? '', body: body.bytes };
}

async function readCapped(
  res: Response,
  maxBytes: number,
  signal: AbortSignal,
): Promise<{ ok: true; bytes: Uint8Array } | { ok: false; outcome: 'timeout' | 'network_error' | 'too_large' }> {
  if (res.body === null) return { ok: true, bytes: new Uint8Array(0) };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined);
        return { ok: false, outcome: 'too_large' };
      }
      chunks.push(value);
    }
  } catch {
    return { ok: false, outcome: signal.aborted ? 'timeout' : 'network_error' };
  }
  return { ok: true, bytes: Buffer.concat(chunks, total) };
}
