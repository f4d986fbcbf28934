/**
 * The sidecar's plain HTTP endpoints: GET /metrics (Prometheus), /healthz (the process answers),
 * /readyz (policy loaded and issuer keys known — Kubernetes stops routing to a pod that is not).
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface HttpEndpointsOptions {
  readonly address: string;
  readonly ready: () => boolean;
  readonly metrics: () => Promise<{ contentType: string; body: string }>;
}

export class HttpEndpoints {
  readonly #opts: HttpEndpointsOptions;
  readonly #server: Server;

  constructor(opts: HttpEndpointsOptions) {
    this.#opts = opts;
    this.#server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, maxHeaderSize: 8192 }, (req, res) => {
      const path = (req.url ?? '').split('?')[0];
      const send = (status: number, body: string, type = 'text/plain; charset=utf-8'): void => {
        res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
        res.end(body);
      };
      if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
      if (path === '/healthz') return send(200, 'ok\n');
      if (path === '/readyz') return this.#opts.ready() ? send(200, 'ready\n') : send(503, 'not ready\n');
      if (path === '/metrics') {
        this.#opts.metrics().then(
          (m) => send(200, m.body, m.contentType),
          () => send(500, 'metrics unavailable\n'),
        );
        return;
      }
      send(404, 'not found\n');
    });
  }

  async start(): Promise<string> {
    const addr = this.#opts.address;
    const i = addr.lastIndexOf(':');
    const host = addr.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(addr.slice(i + 1));
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve());
    });
    const bound = this.#server.address() as AddressInfo;
    return `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
  }

  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
