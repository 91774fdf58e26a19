import { createServer } from 'node:net';

/**
 * A currently free loopback port, for servers that must be told their port before they start: Orthanc (its config
 * file names it), and in the e2e tests the mock EHR and the app, which must know each other's URL before either
 * starts (redirect URIs, trusted FHIR servers), so they cannot simply listen on port 0.
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
