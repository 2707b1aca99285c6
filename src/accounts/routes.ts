import { Router, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { z } from 'zod';
import type { Database } from '../db/database.ts';
import { renderPage } from '../web/views.ts';
import { newPassword, personName } from './fields.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
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
    const user = await createUser(db, { ...parsed.data, passwordHash: await hashPassword(parsed.data.password) });
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

  router.post('/login', ...loginRateLimits(), async (req, res) => {
    const email = typeof req.body?.email === 'string' ? req.body.email : '';
    const password = typeof req.body?.password === 'string' ? req.body.password : '';
    const next = safeNext(req.body?.next);
    const user = email ? await findUserByEmail(db, email) : undefined;
    if (!(await verifyPassword(user?.password_hash, password)) || !user) {
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

/** Only a path on this site: "/x", never "//evil.example" or "/\evil.example". */
export function safeNext(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 2000) return undefined;
  return /^\/(?![/\\])[^\s\\]*$/.test(value) ? value : undefined;
}

/**
 * Failed sign-ins are limited per email and per address; successful ones do not count.
 * Over the limit: 429 with Retry-After and the form again.
 */
function loginRateLimits() {
  const tooMany = (req: Request, res: Response) => {
    const email = typeof req.body?.email === 'string' ? req.body.email : '';
    res.status(429).send(renderPage(req, res, 'login', {
      pageTitle: 'Sign in',
      next: safeNext(req.body?.next),
      email,
      error: 'Too many failed attempts. Wait a few minutes and try again.',
    }));
  };
  const common = {
    windowMs: FAILED_LOGIN_WINDOW_MS,
    skipSuccessfulRequests: true,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: tooMany,
  } as const;
  return [
    rateLimit({ ...common, limit: 100 }),
    rateLimit({
      ...common,
      limit: 10,
      keyGenerator: (req) => `email:${normalizeEmail(String(req.body?.email ?? ''))}`,
    }),
  ];
}
