import { type Request, type Response, Router } from 'express';
import { z } from 'zod';
import { requireSignIn } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import type { Realtime } from '../discussion/discussion.ts';
import { notFound, wantsFragment } from '../web/errors.ts';
import { parseId } from '../web/ids.ts';
import { isOneLineText } from '../web/text.ts';
import { renderPage, renderPartial } from '../web/views.ts';
import { homeView } from './home.ts';
import { mayManage, requireOwner, requireTabloAccess, type TabloAccess } from './policy.ts';
import {
  addMember,
  createTablo,
  deleteTablo,
  listMembers,
  removeMember,
  renameTablo,
  unreadTotal,
} from './tablos.ts';

const tabloTitle = z.object({
  title: z
    .string()
    .trim()
    .min(1, 'Give your tablo a title.')
    .max(120, 'Keep the title to 120 characters.')
    .refine(isOneLineText, 'Use only printable characters in the title.'),
});

export function tabloRoutes(db: Database, realtime: Realtime): Router {
  const router = Router();
  const member = requireTabloAccess(db);
  const { bus } = realtime;

  // The home view. htmx asks for its live part alone when something changed.
  router.get('/tablos', requireSignIn(), async (req, res) => {
    const home = await homeView(db, realtime.fanout, res.locals.currentUser.id);
    res.vary('HX-Request');
    if (wantsFragment(req)) res.send(renderPartial('tablo-home', { ...home }));
    else res.send(renderPage(req, res, 'tablos', { pageTitle: 'Your tablos', ...home, values: {}, errors: {} }));
  });

  router.post('/tablos', requireSignIn(), async (req, res) => {
    const parsed = tabloTitle.safeParse(req.body ?? {});
    if (!parsed.success) {
      const home = await homeView(db, realtime.fanout, res.locals.currentUser.id);
      const errors = { title: parsed.error.issues[0]?.message };
      const values = { title: String(req.body?.title ?? '') };
      res.status(422).send(renderPage(req, res, 'tablos', { pageTitle: 'Your tablos', ...home, values, errors }));
      return;
    }
    const id = await createTablo(db, res.locals.currentUser.id, parsed.data.title);
    bus.tabloChanged(id, 'members');
    // A new tablo is for talking in: land in its discussion.
    res.redirect(303, `/tablos/${id}/discussion`);
  });

  // The number in the browser tab's title.
  router.get('/unread', requireSignIn('fragment'), async (_req, res) => {
    res.type('text/plain').send(String(await unreadTotal(db, res.locals.currentUser.id)));
  });

  router.get('/tablos/:tabloId', requireSignIn(), member, async (req, res) => {
    res.send(await tabloPage(req, res, {}));
  });

  router.get('/tablos/:tabloId/members', requireSignIn('fragment'), member, async (req, res) => {
    res.send(await membersFragment(req, res));
  });

  router.post('/tablos/:tabloId/members', requireSignIn(), member, requireOwner, async (req, res) => {
    const tablo = access(res).tablo;
    const email = typeof req.body?.email === 'string' ? req.body.email : '';
    const added = email.trim() ? await addMember(db, tablo.id, email) : { error: 'Enter the email of the person to add.' };
    if ('error' in added) {
      res.status(422);
      if (wantsFragment(req)) res.send(await membersFragment(req, res, { addError: added.error, email }));
      else res.send(await tabloPage(req, res, { addError: added.error, email }));
      return;
    }
    bus.tabloChanged(tablo.id, 'members');
    await answer(req, res, `/tablos/${tablo.id}`, () => membersFragment(req, res));
  });

  router.post('/tablos/:tabloId/members/:userId/remove', requireSignIn(), member, requireOwner, async (req, res) => {
    const tablo = access(res).tablo;
    const userId = parseId(req.params.userId);
    if (userId === tablo.ownerId) {
      // htmx swaps a 422 answer into #member-section: it gets that section, not a whole page.
      const error = 'The owner cannot be removed.';
      res.status(422);
      if (wantsFragment(req)) res.send(await membersFragment(req, res, { removeError: error }));
      else res.send(await tabloPage(req, res, { error }));
      return;
    }
    // Their open discussion of this tablo ends now, and they learn that it did.
    const removed =
      userId !== undefined &&
      (await bus.revokeWith({ userId, tabloId: tablo.id }, 'access-ended', (trx) => removeMember(trx, tablo.id, userId)));
    if (!removed) throw notFound();
    bus.tabloChanged(tablo.id, 'members', [userId]);
    await answer(req, res, `/tablos/${tablo.id}`, () => membersFragment(req, res));
  });

  router.post('/tablos/:tabloId/leave', requireSignIn(), member, async (req, res) => {
    const { tablo, role } = access(res);
    const userId = res.locals.currentUser.id;
    if (role === 'owner') {
      res.status(422).send(await tabloPage(req, res, { error: 'The owner cannot leave their own tablo. Delete it instead.' }));
      return;
    }
    await bus.revokeWith({ userId, tabloId: tablo.id }, 'access-ended', (trx) => removeMember(trx, tablo.id, userId));
    bus.tabloChanged(tablo.id, 'members', [userId]);
    res.redirect(303, '/tablos');
  });

  router.post('/tablos/:tabloId/rename', requireSignIn(), member, requireOwner, async (req, res) => {
    const tablo = access(res).tablo;
    const parsed = tabloTitle.safeParse(req.body ?? {});
    if (!parsed.success) {
      res.status(422).send(await tabloPage(req, res, { renameError: parsed.error.issues[0]?.message, title: String(req.body?.title ?? '') }));
      return;
    }
    await renameTablo(db, tablo.id, parsed.data.title);
    bus.tabloChanged(tablo.id, 'renamed');
    res.redirect(303, `/tablos/${tablo.id}`);
  });

  // Deleting asks first: without `confirm=yes` the answer is the question.
  router.post('/tablos/:tabloId/delete', requireSignIn(), member, requireOwner, async (req, res) => {
    const tablo = access(res).tablo;
    if (req.body?.confirm !== 'yes') {
      res.send(renderPage(req, res, 'confirm-delete', { pageTitle: `Delete ${tablo.title}?`, tablo }));
      return;
    }
    const members = await bus.revokeWith({ tabloId: tablo.id }, 'access-ended', (trx) => deleteTablo(trx, tablo.id));
    bus.tabloChanged(tablo.id, 'deleted', members);
    res.redirect(303, '/tablos');
  });

  async function tabloPage(req: Request, res: Response, form: Record<string, string | undefined>): Promise<string> {
    const { tablo } = access(res);
    return renderPage(req, res, 'tablo', {
      pageTitle: tablo.title,
      tablo,
      members: await listMembers(db, tablo.id),
      canManage: mayManage(access(res)),
      unreadTotal: await unreadTotal(db, res.locals.currentUser.id),
      form,
    });
  }

  async function membersFragment(req: Request, res: Response, form: Record<string, string> = {}): Promise<string> {
    const { tablo } = access(res);
    return renderPartial('members', {
      tablo,
      members: await listMembers(db, tablo.id),
      canManage: mayManage(access(res)),
      csrfToken: req.csrfToken?.(),
      form,
    });
  }

  return router;
}

function access(res: Response): TabloAccess {
  return res.locals.access;
}

/** htmx gets the updated fragment; a plain form gets a redirect. */
async function answer(req: Request, res: Response, location: string, fragment: () => Promise<string>): Promise<void> {
  if (wantsFragment(req)) res.send(await fragment());
  else res.redirect(303, location);
}
