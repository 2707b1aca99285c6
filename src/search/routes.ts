import { Router } from 'express';
import { requireSignIn, signedInUser } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import { accessTo } from '../tablos/policy.ts';
import { listTablosOf, titleCounts } from '../tablos/tablos.ts';
import { notFound, wantsFragment } from '../web/errors.ts';
import { parseId } from '../web/ids.ts';
import { renderPage, renderPartial } from '../web/views.ts';
import { readQuery, searchMessages } from './search.ts';

/** `/search?q=…[&tablo={id}][&before={messageId}]`: a page, or (htmx, typing) its results alone. */
export function searchRoutes(db: Database): Router {
  const router = Router();
  router.get('/search', requireSignIn(), async (req, res) => {
    const userId = signedInUser(res).id;
    const tabloId = optionalId(req.query.tablo);
    const before = optionalId(req.query.before);
    // A tablo one is not a member of is not there to search in.
    if (tabloId !== undefined && !(await accessTo(db, userId, tabloId))) throw notFound();
    const query = readQuery(typeof req.query.q === 'string' ? req.query.q : '', { tabloId, before });
    const found = await searchMessages(db, userId, query);
    const results = { query, ...found, nextPage: nextPageOf(query, found) };
    res.vary('HX-Request');
    if (wantsFragment(req)) {
      res.send(renderPartial('search-results', results));
      return;
    }
    const tablos = await listTablosOf(db, userId);
    res.send(
      renderPage(req, res, 'search', {
        pageTitle: query.text ? `Search: ${query.text}` : 'Search',
        ...results,
        tablos: tablos.map((t) => ({ id: t.id, title: t.title })).sort((a, b) => a.title.localeCompare(b.title)),
        ...(await titleCounts(db, userId)),
      }),
    );
  });
  return router;
}

/** An id from the query string; empty means none, anything else that is not an id is a 404. */
function optionalId(value: unknown): number | undefined {
  if (value === undefined || value === '') return undefined;
  const id = parseId(value);
  if (id === undefined) throw notFound();
  return id;
}

function nextPageOf(query: { text: string; tabloId?: number }, found: { results: { messageId: number }[]; more: boolean }): string | undefined {
  const last = found.results.at(-1);
  if (!found.more || !last) return undefined;
  const params = new URLSearchParams({ q: query.text });
  if (query.tabloId !== undefined) params.set('tablo', String(query.tabloId));
  params.set('before', String(last.messageId));
  return `/search?${params}`;
}
