import { createHmac } from 'node:crypto';
import { parse as parseCookies } from 'cookie';
import { doubleCsrf } from 'csrf-csrf';
import type { Request, RequestHandler } from 'express';

export const CSRF_COOKIE = 'tablo.csrf';

/**
 * CSRF tokens that need nothing stored on the server, so a signed-out visit to /login or
 * /register writes no session row: a signed double-submit token. The token is in a cookie and
 * must come back as the form field `_csrf` or the `X-CSRF-Token` header (static/tablo.js adds it
 * to htmx requests from <meta name="csrf-token">); it is an HMAC, keyed by the server's secret,
 * of a random value and, once signed in, the session id — so it cannot be forged, a token of one
 * visitor or session is refused with another's cookie, and the one used before signing in is
 * refused after. `req.csrfToken()` gives the current token (setting its cookie when new).
 */
declare global {
  namespace Express {
    interface Request {
      /**
       * Set instead of checking, for a multipart form without the header, on a route that reads
       * its own body (see `readsOwnBody`): that route must call it with the `_csrf` field before it
       * stores anything, and refuse the request if it is never called or answers false.
       */
      checkCsrfField?: (token: string) => boolean;
    }
  }
}

/**
 * `readsOwnBody`: the routes that stream a multipart body themselves (a file upload), where the
 * `_csrf` field is not in req.body yet when this runs. Only those, only for a multipart request
 * without the header, have the check handed over to them (`req.checkCsrfField`); everything else is
 * checked here.
 */
export function csrfProtection(sessionSecret: string, readsOwnBody: (req: Request) => boolean = () => false): RequestHandler {
  const secret = createHmac('sha256', sessionSecret).update('tablo csrf').digest('hex');
  const { doubleCsrfProtection, generateCsrfToken, validateRequest } = doubleCsrf({
    getSecret: () => secret,
    getSessionIdentifier: (req) => (req.session?.userId !== undefined ? `session:${req.sessionID}` : 'signed-out'),
    cookieName: CSRF_COOKIE,
    cookieOptions: { httpOnly: true, sameSite: 'lax', path: '/' },
    getCsrfTokenFromRequest: tokenSent,
  });
  return (req, res, next) => {
    req.cookies ??= parseCookies(req.headers.cookie ?? '');
    // Secure whenever the request came over HTTPS (directly, or through a trusted proxy).
    const tokenFor = () => generateCsrfToken(req, res, { cookieOptions: { secure: req.secure } });
    if (req.method === 'POST' && req.is('multipart/form-data') && !req.get('X-CSRF-Token') && readsOwnBody(req)) {
      req.csrfToken = tokenFor;
      req.checkCsrfField = (token) => validateRequest(Object.assign(Object.create(req) as Request, { body: { _csrf: token } }));
      return next();
    }
    doubleCsrfProtection(req, res, (error?: unknown) => {
      req.csrfToken = tokenFor;
      next(error);
    });
  };
}

function tokenSent(req: Request): string | undefined {
  const field = (req.body as Record<string, unknown> | undefined)?._csrf;
  return typeof field === 'string' ? field : req.get('X-CSRF-Token');
}
