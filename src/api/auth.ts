import type { RequestHandler, Response } from 'express';
import { type TokenHolder, tokenDigest, tokenHolder } from '../accounts/tokens.ts';
import type { Database } from '../db/database.ts';
import type { AccessCache } from '../web/access-cache.ts';
import { ApiError } from './errors.ts';

declare global {
  namespace Express {
    interface Locals {
      /** The API token of the request and its account (requireToken). */
      token?: TokenHolder;
    }
  }
}

/**
 * Signs in an API request from `Authorization: Bearer {token}` and nothing else: cookies are
 * never read, so a browser's session cannot be ridden (and no CSRF token is needed). The holder
 * is remembered briefly and forgotten at once when the token is revoked (see AccessCache); the
 * event stream reads its token again once subscribed.
 */
export function requireToken(db: Database, cache: AccessCache): RequestHandler {
  return async (req, res, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.get('Authorization') ?? '');
    const token = match?.[1];
    const holder = token === undefined ? undefined : await cache.token(tokenDigest(token), () => tokenHolder(db, token));
    if (!holder) {
      res.set('WWW-Authenticate', 'Bearer realm="tablo"');
      return next(new ApiError(401, match ? 'This token is not valid (unknown or revoked).' : 'Send an API token: Authorization: Bearer tablo_…'));
    }
    res.locals.token = holder;
    res.locals.currentUser = holder.user;
    next();
  };
}

export function tokenOf(res: Response): TokenHolder {
  const token = res.locals.token;
  if (!token) throw new ApiError(401, 'Send an API token: Authorization: Bearer tablo_…');
  return token;
}
