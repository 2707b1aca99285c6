import type { RequestHandler, Response } from 'express';
import type { Database } from '../db/database.ts';
import type { AccessCache } from '../web/access-cache.ts';
import { wantsFragment } from '../web/errors.ts';
import { HttpError } from '../web/errors.ts';
import { type CurrentUser, findUserById } from './users.ts';

declare global {
  namespace Express {
    interface Locals {
      /** The signed-in person (loadCurrentUser, or streamSignIn for streams). */
      currentUser?: CurrentUser;
      /** The session's id, set for streams only (streamSignIn): it never leaves this process. */
      sessionId?: string;
    }
  }
}

/** The signed-in person, after requireSignIn (or streamSignIn). */
export function signedInUser(res: Response): CurrentUser {
  const user = res.locals.currentUser;
  if (!user) throw new HttpError(401, 'Sign in to continue');
  return user;
}

/** Puts the signed-in person, if any, in res.locals.currentUser (remembered briefly: see AccessCache). */
export function loadCurrentUser(db: Database, cache: AccessCache): RequestHandler {
  return async (req, res, next) => {
    const userId = req.session?.userId;
    if (userId !== undefined) res.locals.currentUser = await cache.person(userId, () => findUserById(db, userId));
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
