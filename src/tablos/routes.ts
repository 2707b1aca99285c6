import { type Request, type Response, Router } from 'express';
import { requireSignIn, signedInUser } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import type { Live } from '../live/live.ts';
import { notFound, wantsFragment } from '../web/errors.ts';
import { parseId } from '../web/ids.ts';
import { renderPage, renderPartial } from '../web/views.ts';
import { mayManage, requireOwner, requireTabloAccess, tabloAccess } from './policy.ts';
import { cancelInvitation, inviteByEmail, pendingInvitations } from './invitations.ts';
import { joinPath, joinTokenOf, makeJoinLink, revokeJoinLink } from './join-links.ts';
import { deleteTablo, leaveTablo, listMembers, removeMember, renameTablo, tabloTitle, titleCounts } from './tablos.ts';

/** A tablo's own page, its members, invitations and join link, and the owner's management of it. */
export function tabloRoutes(db: Database, live: Live): Router {
  const router = Router();
  const member = requireTabloAccess(db);
  router.get('/tablos/:tabloId', requireSignIn(), member, async (req, res) => {
    res.send(await tabloPage(req, res, {}));
  });

  router.get('/tablos/:tabloId/members', requireSignIn('fragment'), member, async (req, res) => {
    res.send(await membersFragment(req, res));
  });

  // Who can be mentioned here, for the composer's @-autocomplete: the members' handles and names.
  router.get('/tablos/:tabloId/handles', requireSignIn('fragment'), member, async (_req, res) => {
    const members = await listMembers(db, tabloAccess(res).tablo.id);
    res.set('Cache-Control', 'no-store');
    res.json({ members: members.map((m) => ({ id: m.id, handle: m.handle, name: m.name })) });
  });

  // Adding by email invites: the answer is the same whether or not an account has that email.
  router.post('/tablos/:tabloId/members', requireSignIn(), member, requireOwner, async (req, res) => {
    const tablo = tabloAccess(res).tablo;
    const email = typeof req.body?.email === 'string' ? req.body.email : '';
    const invited = await inviteByEmail(db, live, { tabloId: tablo.id, invitedBy: signedInUser(res).id, email });
    if ('error' in invited) {
      res.status(422);
      if (wantsFragment(req)) res.send(await membersFragment(req, res, { addError: invited.error, email }));
      else res.send(await tabloPage(req, res, { addError: invited.error, email }));
      return;
    }
    await answer(req, res, `/tablos/${tablo.id}`, () => membersFragment(req, res));
  });

  router.post('/tablos/:tabloId/invitations/:invitationId/cancel', requireSignIn(), member, requireOwner, async (req, res) => {
    const tablo = tabloAccess(res).tablo;
    const invitationId = parseId(req.params.invitationId);
    const cancelled =
      invitationId !== undefined && (await cancelInvitation(db, live, tablo.id, invitationId, signedInUser(res).id));
    if (!cancelled) throw notFound();
    await answer(req, res, `/tablos/${tablo.id}`, () => membersFragment(req, res));
  });

  router.post('/tablos/:tabloId/invite-link', requireSignIn(), member, requireOwner, async (req, res) => {
    const tablo = tabloAccess(res).tablo;
    await makeJoinLink(db, live, tablo.id, signedInUser(res).id);
    await answer(req, res, `/tablos/${tablo.id}`, () => membersFragment(req, res));
  });

  router.post('/tablos/:tabloId/invite-link/revoke', requireSignIn(), member, requireOwner, async (req, res) => {
    const tablo = tabloAccess(res).tablo;
    await revokeJoinLink(db, live, tablo.id, signedInUser(res).id);
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
    // Their open discussion of this tablo ends now, and they learn that it did.
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
    await leaveTablo(live, tablo.id, userId);
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
      ...(await memberSection(req, res)),
      ...(await titleCounts(db, signedInUser(res).id)),
      form,
    });
  }

  async function membersFragment(req: Request, res: Response, form: Record<string, string> = {}): Promise<string> {
    return renderPartial('members', { ...(await memberSection(req, res)), csrfToken: req.csrfToken?.(), form });
  }

  /** The members; for the owner also the pending invitations and the join link. */
  async function memberSection(req: Request, res: Response) {
    const { tablo } = tabloAccess(res);
    const canManage = mayManage(tabloAccess(res));
    const [members, invitations, joinToken] = await Promise.all([
      listMembers(db, tablo.id),
      canManage ? pendingInvitations(db, tablo.id) : [],
      canManage ? joinTokenOf(db, tablo.id) : undefined,
    ]);
    const inviteLink = joinToken ? `${req.protocol}://${req.host}${joinPath(joinToken)}` : undefined;
    return { tablo, members, canManage, invitations, inviteLink };
  }

  return router;
}

/** htmx gets the updated fragment; a plain form gets a redirect. */
async function answer(req: Request, res: Response, location: string, fragment: () => Promise<string>): Promise<void> {
  if (wantsFragment(req)) res.send(await fragment());
  else res.redirect(303, location);
}
