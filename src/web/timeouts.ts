import type { IncomingMessage, Server } from 'node:http';

export type HttpTimeouts = {
  /** The whole request line and headers must arrive within this. */
  headersMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveMs: number;
  /** While a body is arriving, at least this many bytes per second over each window; 0 = no floor. */
  minBodyBytesPerSecond: number;
  bodyRateWindowMs: number;
};

/**
 * A slow-loris client holds a socket by sending little, forever. Headers get a short deadline;
 * a body gets a minimum rate rather than a total time, so a large upload on a slow line still
 * gets through. Streams send no body, so once their headers are in they are never cut.
 */
export function guardAgainstSlowClients(server: Server, timeouts: HttpTimeouts): void {
  server.headersTimeout = timeouts.headersMs;
  // Node's own total limit would cut a slow upload: the rate below replaces it.
  server.requestTimeout = 0;
  server.keepAliveTimeout = timeouts.keepAliveMs;
  server.timeout = 0;
  if (timeouts.minBodyBytesPerSecond > 0) {
    server.on('request', (req: IncomingMessage) => watchBodyRate(req, timeouts));
  }
}

/** How often Node checks header deadlines: it defaults to 30 s, too coarse for a short deadline. */
export function headerCheckInterval(headersMs: number): number {
  return Math.max(100, Math.min(5_000, Math.floor(headersMs / 4)));
}

function watchBodyRate(req: IncomingMessage, { minBodyBytesPerSecond, bodyRateWindowMs }: HttpTimeouts): void {
  if (!hasBody(req)) return;
  const socket = req.socket;
  const needed = (minBodyBytesPerSecond * bodyRateWindowMs) / 1000;
  let atWindowStart = socket.bytesRead;
  const check = setInterval(() => {
    if (req.complete || socket.destroyed) return stop();
    const received = socket.bytesRead - atWindowStart;
    atWindowStart = socket.bytesRead;
    // Unread data waiting in the request means the app is not reading: the slowness is ours.
    if (received < needed && req.readableLength === 0) socket.destroy();
  }, bodyRateWindowMs);
  // A request left unread (an upload refused mid-way) may never end: the check must not keep the process up.
  check.unref();
  const stop = () => clearInterval(check);
  req.once('end', stop);
  req.once('close', stop);
}

function hasBody(req: IncomingMessage): boolean {
  return req.headers['transfer-encoding'] !== undefined || Number(req.headers['content-length'] ?? 0) > 0;
}
