/** Binds a dev server to 127.0.0.1 (port 0 = any free port) and resolves with the bound port. */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export function listenLoopback(server: Server, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}
