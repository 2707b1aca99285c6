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
export function csrfProtection(sessionSecret: string): RequestHandler {
  const secret = createHmac('sha256', sessionSecret).update('tablo csrf').digest('hex');
  const { doubleCsrfProtection, generateCsrfToken } = doubleCsrf({
    getSecret: () => secret,
    getSessionIdentifier: (req) => (req.session?.userId !== undefined ? `session:${req.sessionID}` : 'signed-out'),
    cookieName: CSRF_COOKIE,
    cookieOptions: { httpOnly: true, sameSite: 'lax', path: '/' },
    getCsrfTokenFromRequest: tokenSent,
  });
  return (req, res, next) => {
    req.cookies ??= parseCookies(req.headers.cookie ?? '');
    doubleCsrfProtection(req, res, (error?: unknown) => {
      // Secure whenever the request came over HTTPS (directly, or through a trusted proxy).
      req.csrfToken = () => generateCsrfToken(req, res, { cookieOptions: { secure: req.secure } });
      next(error);
    });
  };
}

function tokenSent(req: Request): string | undefined {
  const field = (req.body as Record<string, unknown> | undefined)?._csrf;
  return typeof field === 'string' ? field : req.get('X-CSRF-Token');
}
