/** Loopback HTTP servers of the dev stack, benchmarks and tests: bind, and close at once. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Binds `server` to 127.0.0.1 (port 0 = any free port) and resolves with the bound port. */
export function listenLoopback(server: Server, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops accepting and drops open keep-alive connections, so close resolves without waiting for clients. */
export function closeNow(server: { close(cb: () => void): unknown; closeAllConnections(): void }): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
