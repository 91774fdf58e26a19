/**
 * The Node HTTP server's life: listen first (port 0 picks a free port, and the public URLs need the bound one),
 * close last (dropping keep-alive connections, so tests and Ctrl-C do not wait for idle browsers).
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Resolves to the port actually bound. */
export function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

export function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!server.listening) {
      resolve();
      return;
    }
    server.close((error) => {
      if (error) reject(error);
      else resolve();
    });
    server.closeAllConnections();
  });
}
