import type { Request, Response } from 'express';
import { Eta } from 'eta';
import { viewsDir } from '../paths.ts';

declare global {
  namespace Express {
    interface Locals {
      /** A CSRF token chosen ahead of rendering (the layout's meta tag and forms use it). */
      csrfToken?: string;
    }
  }
}

// Eta escapes `<%= %>` by default; `<%~ %>` is used only for already-rendered partials.
// Templates are compiled once and cached: rendering the message fragment must stay cheap.
const eta = new Eta({ views: viewsDir, cache: true, autoTrim: false });

/** A page inside the layout; the layout reads the signed-in user and the CSRF token from res.locals. */
export function renderPage(req: Request, res: Response, name: string, data: Record<string, unknown> = {}): string {
  const csrfToken = res.locals.csrfToken ?? req.csrfToken?.();
  return eta.render(`./pages/${name}`, { ...res.locals, csrfToken, ...data });
}

/** A piece of HTML on its own (htmx answers, stream events). */
export function renderPartial(name: string, data: Record<string, unknown>): string {
  return eta.render(`./partials/${name}`, data);
}
