import { Router } from 'express';
import { requireSignIn, signedInUser } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import type { Live } from '../live/live.ts';
import { notFound } from '../web/errors.ts';
import { parseId } from '../web/ids.ts';
import { renderPage } from '../web/views.ts';
import { acceptInvitation, declineInvitation } from './invitations.ts';
import { joinByLink, joinPath, tabloOfJoinLink } from './join-links.ts';
import { accessTo } from './policy.ts';

/**
 * The invited person's side: accepting or declining an invitation (listed on /tablos), and
 * joining through a tablo's join link. Someone else's invitation, or a link that does not work,
 * is 404, as if it did not exist.
 */
export function invitationRoutes(db: Database, live: Live): Router {
  const router = Router();

  router.post('/invitations/:invitationId/accept', requireSignIn(), async (req, res) => {
    const invitationId = parseId(req.params.invitationId);
    const tabloId = invitationId && (await acceptInvitation(db, live, invitationId, signedInUser(res).id));
    if (!tabloId) throw notFound();
    res.redirect(303, `/tablos/${tabloId}`);
  });

  router.post('/invitations/:invitationId/decline', requireSignIn(), async (req, res) => {
    const invitationId = parseId(req.params.invitationId);
    const declined = invitationId !== undefined && (await declineInvitation(db, live, invitationId, signedInUser(res).id));
    if (!declined) throw notFound();
    res.redirect(303, '/tablos');
  });

  // A dead link says so before anyone signs in or registers for nothing; a working one leads
  // through sign-in (or registration) and back here.
  router.get('/join/:token', async (req, res) => {
    const token = tokenOf(req.params.token);
    const tablo = await tabloOfJoinLink(db, token);
    if (!tablo) throw notFound();
    const user = res.locals.currentUser;
    if (!user) {
      res.redirect(303, `/login?next=${joinPath(token)}`);
      return;
    }
    const alreadyMember = (await accessTo(db, user.id, tablo.id)) !== undefined;
    res.send(renderPage(req, res, 'join', { pageTitle: `Join ${tablo.title}`, tablo, action: joinPath(token), alreadyMember }));
  });

  router.post('/join/:token', requireSignIn(), async (req, res) => {
    const tabloId = await joinByLink(db, live, tokenOf(req.params.token), signedInUser(res).id);
    if (!tabloId) throw notFound();
    res.redirect(303, `/tablos/${tabloId}/discussion`);
  });

  return router;
}

const tokenOf = (value: unknown): string => (typeof value === 'string' ? value : '');
