import { createHash } from 'node:crypto';
import { Router, type Request, type Response } from 'express';
import { ipKeyGenerator, rateLimit } from 'express-rate-limit';
import { z } from 'zod';
import type { Database } from '../db/database.ts';
import { type Limit, PostgresLimitStore } from '../web/limits.ts';
import { renderPage } from '../web/views.ts';
import { newPassword, personName } from './fields.ts';
import { BUSY_RETRY_SECONDS, HasherBusy, hashPassword, verifyPassword } from './passwords.ts';
import { startSession } from './sessions.ts';
import { createUser, emailAddress, findUserByEmail, normalizeEmail } from './users.ts';

const registration = z.object({
  email: emailAddress,
  name: personName,
  password: newPassword,
});

const FAILED_LOGIN_WINDOW_MS = 15 * 60 * 1000;
const GENERIC_LOGIN_FAILURE = 'That email and password do not match an account.';

export type AccountHooks = { onSignOut: (sessionId: string) => void };

export function accountRoutes(db: Database, hooks: AccountHooks): Router {
  const router = Router();

  router.get('/register', (req, res) => {
    res.send(renderPage(req, res, 'register', { pageTitle: 'Create your account', next: safeNext(req.query.next), values: {}, errors: {} }));
  });

  router.post('/register', async (req, res) => {
    const parsed = registration.safeParse(req.body ?? {});
    const values = { email: String(req.body?.email ?? ''), name: String(req.body?.name ?? '') };
    const next = safeNext(req.body?.next);
    if (!parsed.success) {
      const errors = Object.fromEntries(parsed.error.issues.map((i) => [String(i.path[0]), i.message]));
      res.status(422).send(renderPage(req, res, 'register', { pageTitle: 'Create your account', next, values, errors }));
      return;
    }
    const passwordHash = await hashPassword(parsed.data.password).catch(whenBusy(res));
    if (passwordHash === BUSY) {
      const errors = { password: BUSY_ADVICE };
      res.send(renderPage(req, res, 'register', { pageTitle: 'Create your account', next, values, errors }));
      return;
    }
    const user = await createUser(db, { ...parsed.data, passwordHash });
    if (!user) {
      const errors = { email: 'An account with this email already exists. Sign in instead?' };
      res.status(422).send(renderPage(req, res, 'register', { pageTitle: 'Create your account', next, values, errors }));
      return;
    }
    await startSession(req, user.id);
    res.redirect(303, next ?? '/tablos');
  });

  router.get('/login', (req, res) => {
    res.send(renderPage(req, res, 'login', { pageTitle: 'Sign in', next: safeNext(req.query.next), email: '' }));
  });

  router.post('/login', ...loginRateLimits(db), async (req, res) => {
    const email = typeof req.body?.email === 'string' ? req.body.email : '';
    const password = typeof req.body?.password === 'string' ? req.body.password : '';
    const next = safeNext(req.body?.next);
    const user = email ? await findUserByEmail(db, email) : undefined;
    const matches = await verifyPassword(user?.password_hash, password).catch(whenBusy(res));
    if (matches === BUSY) {
      res.send(renderPage(req, res, 'login', { pageTitle: 'Sign in', next, email, error: BUSY_ADVICE }));
      return;
    }
    if (!matches || !user) {
      res.status(401).send(renderPage(req, res, 'login', { pageTitle: 'Sign in', next, email, error: GENERIC_LOGIN_FAILURE }));
      return;
    }
    await startSession(req, user.id);
    res.redirect(303, next ?? '/tablos');
  });

  router.post('/logout', async (req, res) => {
    const sessionId = req.sessionID;
    await new Promise<void>((resolve, reject) => req.session.destroy((e) => (e ? reject(e) : resolve())));
    hooks.onSignOut(sessionId);
    res.clearCookie('tablo.sid');
    res.redirect(303, '/login');
  });

  return router;
}

const BUSY = Symbol('busy');
const BUSY_ADVICE = 'Many people are signing in right now. Try again in a few seconds.';

/** A full password queue answers 503 with Retry-After (the caller renders its form again); other errors go on. */
function whenBusy(res: Response) {
  return (error: unknown): typeof BUSY => {
    if (!(error instanceof HasherBusy)) throw error;
    res.status(503).set('Retry-After', String(BUSY_RETRY_SECONDS));
    return BUSY;
  };
}

/** Only a path on this site: "/x", never "//evil.example" or "/\evil.example". */
export function safeNext(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 2000) return undefined;
  return /^\/(?![/\\])[^\s\\]*$/.test(value) ? value : undefined;
}

/**
 * Failed sign-ins, counted in PostgreSQL so every instance shares them; successful ones do not
 * count. Per email and address together, so a guesser elsewhere cannot lock the owner out; and
 * per address, so one address cannot try many emails. Over either: 429 with Retry-After.
 */
export const FAILED_SIGN_INS = {
  perEmailAndAddress: { limit: 10, windowMs: FAILED_LOGIN_WINDOW_MS },
  perAddress: { limit: 100, windowMs: FAILED_LOGIN_WINDOW_MS },
} as const;

function loginRateLimits(db: Database) {
  const tooMany = (req: Request, res: Response) => {
    const email = typeof req.body?.email === 'string' ? req.body.email : '';
    res.status(429).send(renderPage(req, res, 'login', {
      pageTitle: 'Sign in',
      next: safeNext(req.body?.next),
      email,
      error: 'Too many failed attempts from here. Wait a few minutes and try again.',
    }));
  };
  const address = (req: Request) => ipKeyGenerator(req.ip ?? '');
  const limiter = (name: string, rule: Limit, key: (req: Request) => string) =>
    rateLimit({
      ...rule,
      store: new PostgresLimitStore(db, `sign-in:${name}:`, rule),
      keyGenerator: key,
      skipSuccessfulRequests: true,
      // A sign-in turned away while passwords queue (503) is not a failed attempt.
      requestWasSuccessful: (_req, res) => res.statusCode < 400 || res.statusCode === 503,
      standardHeaders: 'draft-8',
      legacyHeaders: false,
      handler: tooMany,
    });
  return [
    limiter('address', FAILED_SIGN_INS.perAddress, address),
    limiter('email', FAILED_SIGN_INS.perEmailAndAddress, (req) => `${emailKey(req.body?.email)} ${address(req)}`),
  ];
}

/** The email as a limit's key: a hash, so whatever was typed (NUL included) is storable and not kept. */
function emailKey(email: unknown): string {
  return createHash('sha256').update(normalizeEmail(typeof email === 'string' ? email : '')).digest('base64url');
}
