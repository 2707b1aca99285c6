import type { ErrorRequestHandler, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { isDatabaseUnavailable } from '../db/unavailable.ts';
import { renderPage } from './views.ts';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** A sentence for the person, shown under the message. */
    readonly advice?: string,
  ) {
    super(message);
  }
}

export const notFound = () => new HttpError(404, 'Not found');

/** htmx, SSE and other fragment requests get a short text answer, never a whole page. */
export function wantsFragment(req: Request): boolean {
  return req.get('HX-Request') === 'true' || (req.get('Accept') ?? '').includes('text/event-stream');
}

const explanations: Record<number, { title: string; text: string }> = {
  403: { title: 'This form has expired', text: 'Reload the page and try again.' },
  404: { title: 'Not found', text: 'There is nothing here, or it is not yours to see.' },
  413: { title: 'Too large', text: 'What you sent is larger than Tablo accepts.' },
  429: { title: 'Too many tries', text: 'Wait a little and try again.' },
  500: { title: 'Something went wrong', text: 'The problem is ours. Try again in a moment.' },
};

/** How long a client is asked to wait before trying again while the database is unreachable. */
export const DATABASE_RETRY_SECONDS = 5;
const DATABASE_UNAVAILABLE = {
  title: 'Tablo cannot reach its database; retrying',
  text: 'Nothing is lost: this page tries again by itself every few seconds.',
};

export const pageNotFound: RequestHandler = (_req, _res, next) => next(notFound());

export function handleErrors(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
    if (isDatabaseUnavailable(error)) return databaseUnavailable(logger, error, req, res);
    const raw = Number(error?.status ?? error?.statusCode ?? 500);
    const status = raw >= 400 && raw < 600 ? raw : 500;
    if (status >= 500) logger.error({ err: error, url: req.originalUrl }, 'request failed');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const explanation =
      error instanceof HttpError && error.advice
        ? { title: error.message, text: error.advice }
        : (explanations[status] ?? explanations[status < 500 ? 404 : 500]!);
    res.status(status);
    if (wantsFragment(req)) {
      res.type('text/plain').send(explanation.title);
      return;
    }
    res.send(renderPage(req, res, 'error', { pageTitle: explanation.title, status, ...explanation }));
  };
}

/**
 * The database is down or unreachable (a restart, a failover, a network blip): 503 with
 * Retry-After, never 401 or a redirect to sign in, whatever lookup failed (the session, the
 * person, the tablo). Streams and fragments get a line of text and retry by themselves; a page
 * retries by itself too (a GET reloads; a POST is not resent behind the person's back).
 */
function databaseUnavailable(logger: Logger, error: unknown, req: Request, res: Response): void {
  logger.warn({ url: req.originalUrl, reason: error instanceof Error ? error.message : String(error) }, 'database unavailable');
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.status(503).set('Retry-After', String(DATABASE_RETRY_SECONDS));
  if (wantsFragment(req)) {
    res.type('text/plain').send(DATABASE_UNAVAILABLE.title);
    return;
  }
  const retrying = req.method === 'GET' || req.method === 'HEAD';
  // Who is signed in may be what could not be read: show the page as to a visitor, and with no
  // CSRF token (minting one would write to the session store, which is down).
  res.locals.currentUser = undefined;
  res.locals.csrfToken = '';
  res.send(
    renderPage(req, res, 'error', {
      pageTitle: DATABASE_UNAVAILABLE.title,
      status: 503,
      title: DATABASE_UNAVAILABLE.title,
      text: retrying ? DATABASE_UNAVAILABLE.text : 'What you sent may not have been saved. Go back and send it again in a moment.',
      refreshSeconds: retrying ? DATABASE_RETRY_SECONDS : undefined,
    }),
  );
}
