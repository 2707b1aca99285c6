import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/unavailable.ts';
import { DATABASE_RETRY_SECONDS } from '../web/errors.ts';

/** An API answer other than success: its status and `{"error": message}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }
}

export const apiNotFound: RequestHandler = (_req, _res, next) => next(new ApiError(404, 'No such route.'));

/** Every API error as JSON `{"error": …}`; 503 with Retry-After while the database is unreachable. */
export function handleApiErrors(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (isDatabaseUnavailable(error)) {
      logger.warn({ url: req.originalUrl, reason: error instanceof Error ? error.message : String(error) }, 'database unavailable');
      res.status(503).set('Retry-After', String(DATABASE_RETRY_SECONDS)).json({ error: 'Tablo cannot reach its database; retry shortly.' });
      return;
    }
    if (error instanceof ApiError) {
      if (error.retryAfterSeconds !== undefined) res.set('Retry-After', String(error.retryAfterSeconds));
      res.status(error.status).json({ error: error.message });
      return;
    }
    // body-parser's errors: malformed JSON (400), too large (413), a charset it cannot read (415).
    const status = Number(error?.status ?? error?.statusCode ?? 500);
    if (status >= 400 && status < 500) {
      const message = status === 413 ? 'The request body is too large (64 KiB at most).' : status === 400 ? 'The body is not valid JSON.' : 'The request cannot be read.';
      res.status(status).json({ error: message });
      return;
    }
    logger.error({ err: error, url: req.originalUrl }, 'request failed');
    res.status(500).json({ error: 'Something went wrong on our side.' });
  };
}
