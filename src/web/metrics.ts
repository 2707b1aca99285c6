import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';

export type Metrics = ReturnType<typeof createMetrics>;

/** One registry per app, so that several apps in one process (tests) never collide. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const httpDuration = new Histogram({
    name: 'tablo_http_request_duration_seconds',
    help: 'HTTP request durations, by method, route and status (streams excluded)',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });

  const timeRequests: RequestHandler = (req, res, next) => {
    const stop = httpDuration.startTimer();
    res.on('finish', () => {
      if (res.getHeader('Content-Type')?.toString().startsWith('text/event-stream')) return;
      // The route pattern, never the raw URL: label values must stay few.
      const route = req.route?.path ? `${req.baseUrl}${req.route.path}` : 'unmatched';
      stop({ method: req.method, route, status: String(res.statusCode) });
    });
    next();
  };

  return { registry, httpDuration, timeRequests };
}

/**
 * Compares the Authorization header with `Bearer <token>` in constant time. Both sides are hashed
 * first so that timingSafeEqual gets equal lengths and the token's length does not leak either.
 */
function bearerMatches(header: string | undefined, token: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest();
  return timingSafeEqual(digest(header ?? ''), digest(`Bearer ${token}`));
}

/**
 * Whether a connection comes from this machine. Judged on the socket's own peer address, never on
 * X-Forwarded-For, which any client can write (TRUST_PROXY or not).
 */
export function isLoopbackPeer(remoteAddress: string | undefined): boolean {
  if (!remoteAddress) return false;
  const address = remoteAddress.toLowerCase().replace(/^::ffff:/, '');
  return address === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(address);
}

/** Without a token, only this machine may read the metrics; others are told there is nothing here. */
export function metricsRoute(metrics: Metrics, token: string | undefined): RequestHandler {
  return async (req, res) => {
    if (!token && !isLoopbackPeer(req.socket.remoteAddress)) {
      res.status(404).type('text/plain').send('Not Found');
      return;
    }
    if (token && !bearerMatches(req.get('Authorization'), token)) {
      res.status(401).set('WWW-Authenticate', 'Bearer').type('text/plain').send('Unauthorized');
      return;
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}
