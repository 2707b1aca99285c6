/**
 * The page baseline: a tiny Express server answering one HTML page from memory, the same bytes
 * the app rendered for its discussion page (fetched once by the bench, PAGE_FILE). What any
 * Express server pays per request without sessions, queries or rendering.
 *
 *   GET /page   the HTML, text/html
 *
 * PORT (0 = any free port). Prints `page server listening on port N` once it listens.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import express from 'express';

const html = readFileSync(process.env.PAGE_FILE ?? '', 'utf8');
const app = express();
app.get('/page', (_req, res) => {
  res.type('html').send(html);
});
const server = app.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  console.log(`page server listening on port ${(server.address() as AddressInfo).port}`);
});
server.keepAliveTimeout = 60_000;
const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
