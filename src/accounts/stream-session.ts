import cookie from 'cookie';
import signature from 'cookie-signature';
import type { RequestHandler } from 'express';
import type session from 'express-session';
import type { Database } from '../db/database.ts';
import type { AccessCache } from '../web/access-cache.ts';
import { SESSION_COOKIE } from './sessions.ts';
import { findUserById } from './users.ts';

/**
 * Signs in a stream request from its session cookie, without express-session. A stream lives for
 * hours and thousands are open at once: express-session would wrap each response and keep its
 * session objects alive for the whole stream, tripling the memory an open stream costs. This reads
 * the same cookie and the same store, and keeps nothing. Sets res.locals.currentUser and
 * res.locals.sessionId; signed out answers 401. A store or database that does not answer is not a
 * sign-out: its error goes on to the error handler (503, and the page keeps retrying).
 */
export function streamSignIn(db: Database, store: session.Store, secret: string, cache: AccessCache): RequestHandler {
  return async (req, res, next) => {
    const sessionId = sessionIdFrom(req.headers.cookie, secret);
    const data = sessionId ? await readSession(store, sessionId) : undefined;
    const userId = data?.userId;
    const user = userId ? await cache.person(userId, () => findUserById(db, userId)) : undefined;
    if (!sessionId || !user) {
      res.status(401).type('text/plain').send('Sign in to continue');
      return;
    }
    res.locals.currentUser = user;
    res.locals.sessionId = sessionId;
    next();
  };
}

function sessionIdFrom(header: string | undefined, secret: string): string | undefined {
  const value = header ? cookie.parse(header)[SESSION_COOKIE] : undefined;
  // express-session's format: "s:" + the id signed with the secret.
  if (!value?.startsWith('s:')) return undefined;
  return signature.unsign(value.slice(2), secret) || undefined;
}

function readSession(store: session.Store, sessionId: string): Promise<session.SessionData | undefined> {
  return new Promise((resolve, reject) =>
    store.get(sessionId, (error: unknown, data) => (error ? reject(error) : resolve(data ?? undefined))),
  );
}
