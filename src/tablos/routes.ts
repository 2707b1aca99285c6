import { Router } from 'express';
import { z } from 'zod';
import { requireSignIn } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import { isOneLineText } from '../web/text.ts';
import { renderPage } from '../web/views.ts';
import { mayManage, requireTabloAccess, type TabloAccess } from './policy.ts';
import { createTablo, listMembers, listTablosOf } from './tablos.ts';

const newTablo = z.object({
  title: z
    .string()
    .trim()
    .min(1, 'Give your tablo a title.')
    .max(120, 'Keep the title to 120 characters.')
    .refine(isOneLineText, 'Use only printable characters in the title.'),
});

export function tabloRoutes(db: Database): Router {
  const router = Router();

  router.get('/tablos', requireSignIn(), async (req, res) => {
    const tablos = await listTablosOf(db, res.locals.currentUser.id);
    res.send(renderPage(req, res, 'tablos', { pageTitle: 'Your tablos', tablos, values: {}, errors: {} }));
  });

  router.post('/tablos', requireSignIn(), async (req, res) => {
    const parsed = newTablo.safeParse(req.body ?? {});
    if (!parsed.success) {
      const tablos = await listTablosOf(db, res.locals.currentUser.id);
      const errors = { title: parsed.error.issues[0]?.message };
      const values = { title: String(req.body?.title ?? '') };
      res.status(422).send(renderPage(req, res, 'tablos', { pageTitle: 'Your tablos', tablos, values, errors }));
      return;
    }
    const id = await createTablo(db, res.locals.currentUser.id, parsed.data.title);
    res.redirect(303, `/tablos/${id}`);
  });

  router.get('/tablos/:tabloId', requireSignIn(), requireTabloAccess(db), async (req, res) => {
    const access: TabloAccess = res.locals.access;
    const members = await listMembers(db, access.tablo.id);
    res.send(renderPage(req, res, 'tablo', {
      pageTitle: access.tablo.title,
      tablo: access.tablo,
      members,
      canManage: mayManage(access),
    }));
  });

  return router;
}
