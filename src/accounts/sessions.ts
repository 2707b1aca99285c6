import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import connectPgSimple from 'connect-pg-simple';
import type { Request } from 'express';
import session from 'express-session';
import type pg from 'pg';
import type { AccessCache } from '../web/access-cache.ts';

declare module 'express-session' {
  interface SessionData {
    userId: number;
    /** When the person signed in (ISO 8601), their browser and address then: for the sessions page. */
    createdAt: string;
    userAgent: string;
    ip: string;
  }
}

export const SESSION_COOKIE = 'tablo.sid';
/** Enough of a user agent to name the browser; the rest is not worth a row's bytes. */
const MAX_USER_AGENT_LENGTH = 512;
const PgStore = connectPgSimple(session);

export function createSessionStore(pool: pg.Pool): session.Store & { close: () => void } {
  // No touch: it would cost every request an UPDATE, and end responses only after it. Sessions
  // last 30 days from their last change (sign-in).
  return new PgStore({ pool, tableName: 'sessions', createTableIfMissing: false, pruneSessionInterval: 15 * 60, disableTouch: true });
}

/**
 * The session store as requests see it: reads remembered for a few seconds (AccessCache), writes
 * and deletions forget at once on this instance, and every instance forgets a session whose end
 * the live engine announces. A session deleted in the table behind its back is read again within
 * the cache's bound. Streams use it too: once subscribed, a stream reads its session from the
 * table itself, before its headers (see newestSeqFor in src/discussion/routes.ts).
 */
export class RememberingSessionStore extends session.Store {
  constructor(
    private readonly store: session.Store,
    private readonly cache: AccessCache,
  ) {
    super();
  }

  override get(sid: string, callback: (err: unknown, session?: session.SessionData | null) => void): void {
    this.cache
      .session(sid, async () => {
        const data = await new Promise<session.SessionData | null | undefined>((resolve, reject) =>
          this.store.get(sid, (error: unknown, found) => (error ? reject(error) : resolve(found))),
        );
        return data ? { json: JSON.stringify(data), userId: data.userId } : undefined;
      })
      // A copy each time: express-session changes the object it is given.
      .then((remembered) => callback(null, remembered ? (JSON.parse(remembered.json) as session.SessionData) : null), callback);
  }

  override set(sid: string, data: session.SessionData, callback?: (err?: unknown) => void): void {
    this.cache.forgetSession(sid);
    this.store.set(sid, data, callback);
  }

  override destroy(sid: string, callback?: (err?: unknown) => void): void {
    this.cache.forgetSession(sid);
    this.store.destroy(sid, callback);
  }

  override touch(sid: string, data: session.SessionData, callback?: () => void): void {
    if (this.store.touch) this.store.touch(sid, data, callback);
    else callback?.();
  }
}

export function sessionMiddleware(store: session.Store, secret: string) {
  return session({
    name: SESSION_COOKIE,
    store,
    secret,
    resave: false,
    saveUninitialized: false,
    cookie: {
      httpOnly: true,
      sameSite: 'lax',
      // Secure whenever the request came over HTTPS (directly, or through a trusted proxy).
      secure: 'auto',
      maxAge: 30 * 24 * 60 * 60 * 1000,
    },
  });
}

/** SESSION_SECRET, or one generated on first start and kept in DATA_DIR so sessions survive restarts. */
export function loadSessionSecret(configured: string | undefined, dataDir: string): string {
  if (configured) return configured;
  const file = path.join(dataDir, 'session-secret');
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    mkdirSync(dataDir, { recursive: true });
    const secret = randomBytes(32).toString('hex');
    writeFileSync(file, secret, { mode: 0o600, flag: 'wx' });
    return secret;
  }
}

/**
 * Signs the person in on a new session id (no fixation), noting when, from which browser and
 * address, and saves it before the redirect so the next request finds it.
 */
export async function startSession(req: Request, userId: number): Promise<void> {
  await regenerate(req);
  Object.assign(req.session, {
    userId,
    createdAt: new Date().toISOString(),
    userAgent: (req.get('User-Agent') ?? '').slice(0, MAX_USER_AGENT_LENGTH),
    ip: req.ip ?? '',
  });
  await save(req);
}

/**
 * The same sign-in on a new session id and a new CSRF token (after a password change); answers
 * the id it replaced, whose row is gone.
 */
export async function renewSession(req: Request): Promise<string> {
  const previousId = req.sessionID;
  const { userId, createdAt, userAgent, ip } = req.session;
  await regenerate(req);
  Object.assign(req.session, { userId, createdAt, userAgent, ip });
  await save(req);
  return previousId;
}

function regenerate(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.regenerate((e) => (e ? reject(e) : resolve())));
}

function save(req: Request): Promise<void> {
  return new Promise((resolve, reject) => req.session.save((e) => (e ? reject(e) : resolve())));
}
