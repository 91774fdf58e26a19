import { createServer } from 'node:net';

/**
 * A currently free loopback port. The mock EHR and the app must know each other's URL before either starts
 * (redirect URIs, trusted FHIR servers), so the e2e tests cannot simply listen on port 0.
 */
export async function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}
