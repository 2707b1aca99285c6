import { Router } from 'express';
import { requireSignIn, signedInUser } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import { titleCounts } from '../tablos/tablos.ts';
import { notFound, wantsFragment } from '../web/errors.ts';
import { parseId } from '../web/ids.ts';
import { renderPage, renderPartial } from '../web/views.ts';
import { peopleOf, profileFor } from './people.ts';

/** `/people` and `/people/{id}`; htmx (the live pages re-reading) gets the changing part alone. */
export function peopleRoutes(db: Database): Router {
  const router = Router();

  router.get('/people', requireSignIn(), async (req, res) => {
    const userId = signedInUser(res).id;
    const people = await peopleOf(db, userId);
    res.vary('HX-Request');
    if (wantsFragment(req)) res.send(renderPartial('people', { people }));
    else res.send(renderPage(req, res, 'people', { pageTitle: 'People', people, ...(await titleCounts(db, userId)) }));
  });

  // Someone who shares no tablo with the viewer is not there for them: 404, like a stranger's tablo.
  router.get('/people/:userId', requireSignIn(), async (req, res) => {
    const personId = parseId(req.params.userId);
    if (personId === undefined) throw notFound();
    const viewerId = signedInUser(res).id;
    const profile = await profileFor(db, viewerId, personId);
    if (!profile) throw notFound();
    res.vary('HX-Request');
    if (wantsFragment(req)) res.send(renderPartial('profile', { profile }));
    else res.send(renderPage(req, res, 'person', { pageTitle: profile.name, profile, ...(await titleCounts(db, viewerId)) }));
  });

  return router;
}
