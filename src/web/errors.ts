import type { ErrorRequestHandler, Request, RequestHandler } from 'express';
import type { Logger } from 'pino';
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

export const pageNotFound: RequestHandler = (_req, _res, next) => next(notFound());

export function handleErrors(logger: Logger): ErrorRequestHandler {
  return (error, req, res, _next) => {
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
