import { csrfSync } from 'csrf-sync';

// Synchroniser tokens kept in the session: the form field `_csrf`, or the `X-CSRF-Token` header
// that static/tablo.js adds to every htmx request from <meta name="csrf-token">.
export const csrf = csrfSync({
  getTokenFromRequest: (req) => {
    const field = (req.body as Record<string, unknown> | undefined)?._csrf;
    return typeof field === 'string' ? field : req.get('X-CSRF-Token');
  },
});
