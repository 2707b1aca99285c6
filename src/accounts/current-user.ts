import type { RequestHandler } from 'express';
import type { Database } from '../db/database.ts';
import { wantsFragment } from '../web/errors.ts';
import { findUserById } from './users.ts';

/** Puts the signed-in person, if any, in res.locals.currentUser. */
export function loadCurrentUser(db: Database): RequestHandler {
  return async (req, res, next) => {
    const userId = req.session?.userId;
    if (userId !== undefined) res.locals.currentUser = await findUserById(db, userId);
    next();
  };
}

/**
 * Pages send a signed-out person to sign in; fragments and streams (which a browser cannot follow
 * into a login page) answer 401.
 */
export function requireSignIn(kind: 'page' | 'fragment' = 'page'): RequestHandler {
  return (req, res, next) => {
    if (res.locals.currentUser) return next();
    if (kind === 'fragment' || wantsFragment(req)) {
      res.status(401).type('text/plain').send('Sign in to continue');
      return;
    }
    res.redirect(303, `/login?next=${encodeURIComponent(req.originalUrl)}`);
  };
}
