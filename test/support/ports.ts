import { createServer } from 'node:net';

/**
 * A port nothing listens on right now, for a server a test starts itself (a child Tablo, a
 * throwaway PostgreSQL, an S3 stand-in): fixed ports collide when suites run side by side.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
