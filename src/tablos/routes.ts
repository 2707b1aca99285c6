import { type Request, type Response, Router } from 'express';
import { requireSignIn, signedInUser } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import type { Live } from '../live/live.ts';
import { notFound, wantsFragment } from '../web/errors.ts';
import { parseId } from '../web/ids.ts';
import { renderPage, renderPartial } from '../web/views.ts';
import { mayManage, requireOwner, requireTabloAccess, tabloAccess } from './policy.ts';
import { addMember, deleteTablo, listMembers, removeMember, renameTablo, tabloTitle, unreadTotal } from './tablos.ts';

/** A tablo's own page, its members, and the owner's management of it. */
export function tabloRoutes(db: Database, live: Live): Router {
  const router = Router();
  const member = requireTabloAccess(db);

  router.get('/tablos/:tabloId', requireSignIn(), member, async (req, res) => {
    res.send(await tabloPage(req, res, {}));
  });

  router.get('/tablos/:tabloId/members', requireSignIn('fragment'), member, async (req, res) => {
    res.send(await membersFragment(req, res));
  });

  router.post('/tablos/:tabloId/members', requireSignIn(), member, requireOwner, async (req, res) => {
    const tablo = tabloAccess(res).tablo;
    const email = typeof req.body?.email === 'string' ? req.body.email : '';
    const added = email.trim() ? await addMember(db, live, tablo.id, email) : { error: 'Enter the email of the person to add.' };
    if ('error' in added) {
      res.status(422);
      if (wantsFragment(req)) res.send(await membersFragment(req, res, { addError: added.error, email }));
      else res.send(await tabloPage(req, res, { addError: added.error, email }));
      return;
    }
    await answer(req, res, `/tablos/${tablo.id}`, () => membersFragment(req, res));
  });

  router.post('/tablos/:tabloId/members/:userId/remove', requireSignIn(), member, requireOwner, async (req, res) => {
    const tablo = tabloAccess(res).tablo;
    const userId = parseId(req.params.userId);
    if (userId === tablo.ownerId) {
      // htmx swaps a 422 answer into #member-section: it gets that section, not a whole page.
      const error = 'The owner cannot be removed.';
      res.status(422);
      if (wantsFragment(req)) res.send(await membersFragment(req, res, { removeError: error }));
      else res.send(await tabloPage(req, res, { error }));
      return;
    }
    const removed = userId !== undefined && (await removeMember(live, tablo.id, userId));
    if (!removed) throw notFound();
    await answer(req, res, `/tablos/${tablo.id}`, () => membersFragment(req, res));
  });

  router.post('/tablos/:tabloId/leave', requireSignIn(), member, async (req, res) => {
    const { tablo, role } = tabloAccess(res);
    const userId = signedInUser(res).id;
    if (role === 'owner') {
      res.status(422).send(await tabloPage(req, res, { error: 'The owner cannot leave their own tablo. Delete it instead.' }));
      return;
    }
    await removeMember(live, tablo.id, userId);
    res.redirect(303, '/tablos');
  });

  router.post('/tablos/:tabloId/rename', requireSignIn(), member, requireOwner, async (req, res) => {
    const tablo = tabloAccess(res).tablo;
    const parsed = tabloTitle.safeParse(req.body ?? {});
    if (!parsed.success) {
      res.status(422).send(await tabloPage(req, res, { renameError: parsed.error.issues[0]?.message, title: String(req.body?.title ?? '') }));
      return;
    }
    await renameTablo(db, live, tablo.id, parsed.data.title);
    res.redirect(303, `/tablos/${tablo.id}`);
  });

  // Deleting asks first: without `confirm=yes` the answer is the question.
  router.post('/tablos/:tabloId/delete', requireSignIn(), member, requireOwner, async (req, res) => {
    const tablo = tabloAccess(res).tablo;
    if (req.body?.confirm !== 'yes') {
      res.send(renderPage(req, res, 'confirm-delete', { pageTitle: `Delete ${tablo.title}?`, tablo }));
      return;
    }
    await deleteTablo(live, tablo.id);
    res.redirect(303, '/tablos');
  });

  async function tabloPage(req: Request, res: Response, form: Record<string, string | undefined>): Promise<string> {
    const { tablo } = tabloAccess(res);
    return renderPage(req, res, 'tablo', {
      pageTitle: tablo.title,
      tablo,
      members: await listMembers(db, tablo.id),
      canManage: mayManage(tabloAccess(res)),
      unreadTotal: await unreadTotal(db, signedInUser(res).id),
      form,
    });
  }

  async function membersFragment(req: Request, res: Response, form: Record<string, string> = {}): Promise<string> {
    const { tablo } = tabloAccess(res);
    return renderPartial('members', {
      tablo,
      members: await listMembers(db, tablo.id),
      canManage: mayManage(tabloAccess(res)),
      csrfToken: req.csrfToken?.(),
      form,
    });
  }

  return router;
}

/** htmx gets the updated fragment; a plain form gets a redirect. */
async function answer(req: Request, res: Response, location: string, fragment: () => Promise<string>): Promise<void> {
  if (wantsFragment(req)) res.send(await fragment());
  else res.redirect(303, location);
}
