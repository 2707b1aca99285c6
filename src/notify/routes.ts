import express, { type Request, type Response, Router } from 'express';
import { requireSignIn, signedInUser } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import type { NotificationLevel } from '../db/schema.ts';
import { staticDir } from '../paths.ts';
import { requireTabloAccess, tabloAccess } from '../tablos/policy.ts';
import { HttpError, wantsFragment } from '../web/errors.ts';
import { renderPartial } from '../web/views.ts';
import { nextLevel, notificationLevel, setNotificationLevel } from './levels.ts';
import { subscribe, type VapidKeys } from './push.ts';

/** The bell's fragment: the member's level, and the one a press moves to. */
export function renderBell(req: Request, res: Response, tabloId: number, level: NotificationLevel): string {
  const csrfToken = res.locals.csrfToken ?? req.csrfToken?.();
  return renderPartial('bell', { tabloId, level, next: nextLevel(level), csrfToken });
}

export function notificationRoutes(db: Database, options: { vapid: VapidKeys; allowPrivateUrls: boolean }): Router {
  const router = Router();

  router.post('/tablos/:tabloId/notifications', requireSignIn(), requireTabloAccess(db), async (req, res) => {
    const tabloId = tabloAccess(res).tablo.id;
    const level = notificationLevel.safeParse(req.body?.level);
    if (!level.success) throw new HttpError(422, 'Not a notification level', 'Choose all, mentions or none.');
    await setNotificationLevel(db, tabloId, signedInUser(res).id, level.data);
    if (wantsFragment(req)) res.type('html').send(renderBell(req, res, tabloId, level.data));
    else res.redirect(303, `/tablos/${tabloId}/discussion`);
  });

  // The public half of the VAPID pair: browsers subscribe with it as applicationServerKey.
  router.get('/push/key', (_req, res) => {
    res.type('text/plain').set('Cache-Control', 'no-cache').send(options.vapid.publicKey);
  });

  router.post('/push/subscriptions', requireSignIn('fragment'), express.json({ limit: '8kb' }), async (req, res) => {
    const outcome = await subscribe(db, signedInUser(res).id, req.body, { allowPrivate: options.allowPrivateUrls });
    if ('error' in outcome) res.status(422).json({ error: outcome.error });
    else res.status(201).json({ subscribed: true });
  });

  return router;
}

/** What makes Tablo installable: the manifest and the service worker (at the root, so its scope is the whole app). */
export function installRoutes(production: boolean): Router {
  const router = Router();
  router.get('/manifest.webmanifest', (_req, res) => {
    res.sendFile('manifest.webmanifest', { root: staticDir, maxAge: production ? '1h' : 0, headers: { 'Content-Type': 'application/manifest+json' } });
  });
  router.get('/sw.js', (_req, res) => {
    // Browsers look for a new service worker on every visit when it is not cached.
    res.sendFile('sw.js', { root: staticDir, headers: { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-cache' } });
  });
  return router;
}
