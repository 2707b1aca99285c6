import { type RequestHandler, Router } from 'express';
import { requireSignIn, signedInUser } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import { type Live, streamOwner } from '../live/live.ts';
import { createTablo, tabloTitle, titleCounts, unreadTotal } from '../tablos/tablos.ts';
import { wantsFragment } from '../web/errors.ts';
import { renderPage, renderPartial } from '../web/views.ts';
import { homeView } from './home.ts';

export function homeRoutes(db: Database, live: Live): Router {
  const router = Router();

  // The home view. htmx asks for its live part alone when something changed.
  router.get('/tablos', requireSignIn(), async (req, res) => {
    const home = await homeView(db, live, signedInUser(res).id);
    res.vary('HX-Request');
    if (wantsFragment(req)) res.send(renderPartial('tablo-home', { ...home, csrfToken: req.csrfToken?.() }));
    else res.send(renderPage(req, res, 'tablos', { pageTitle: 'Your tablos', ...home, values: {}, errors: {} }));
  });

  // The new-tablo form is on the home page: a mistake shows the home page again.
  router.post('/tablos', requireSignIn(), async (req, res) => {
    const user = signedInUser(res);
    const parsed = tabloTitle.safeParse(req.body ?? {});
    if (!parsed.success) {
      const home = await homeView(db, live, user.id);
      const errors = { title: parsed.error.issues[0]?.message };
      const values = { title: String(req.body?.title ?? '') };
      res.status(422).send(renderPage(req, res, 'tablos', { pageTitle: 'Your tablos', ...home, values, errors }));
      return;
    }
    const id = await createTablo(db, live, user.id, parsed.data.title);
    // A new tablo is for talking in: land in its discussion.
    res.redirect(303, `/tablos/${id}/discussion`);
  });

  // The numbers in the browser tab's title: the unread total as text, or with the mentions as JSON.
  router.get('/unread', requireSignIn('fragment'), async (req, res) => {
    res.vary('Accept');
    const userId = signedInUser(res).id;
    if (req.accepts(['text/plain', 'application/json']) === 'application/json') {
      const { unreadTotal, mentionTotal } = await titleCounts(db, userId);
      res.json({ unread: unreadTotal, mentions: mentionTotal });
    } else {
      res.type('text/plain').send(String(await unreadTotal(db, userId)));
    }
  });

  return router;
}

/**
 * A person's own stream, for pages other than a discussion: named events about their tablos
 * (activity, members, tablo, online, read, personal). Nothing to replay: pages re-read what they
 * show on reconnect. Mounted ahead of the session middleware, like the discussion's stream.
 */
export function personalStreamRoutes(live: Live, signedIn: RequestHandler): Router {
  const router = Router();
  router.get('/events', signedIn, (req, res) => {
    live.openPersonalStream(req, res, streamOwner(signedInUser(res).id, res.locals.sessionId ?? ''));
  });
  return router;
}
