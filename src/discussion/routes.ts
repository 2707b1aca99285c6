import { randomUUID } from 'node:crypto';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import { requireSignIn, signedInUser } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import { type Live, streamOwner } from '../live/live.ts';
import { requireTabloAccess, tabloAccess } from '../tablos/policy.ts';
import { unreadTotal } from '../tablos/tablos.ts';
import { wantsFragment } from '../web/errors.ts';
import type { PostingLimit } from '../web/limits.ts';
import { renderPage, renderPartial } from '../web/views.ts';
import { framedEventsAfter, postMessage } from './discussion.ts';
import { renderMessage } from './fragment.ts';
import { MAX_BODY_CHARACTERS, MAX_CLIENT_TOKEN_LENGTH, messagesBefore, PAGE_SIZE } from './messages.ts';
import { markRead, type ReadTracker } from './read-state.ts';

export type DiscussionDeps = { db: Database; live: Live; readTracker: ReadTracker; posting: PostingLimit };

export function discussionRoutes({ db, live, posting }: DiscussionDeps): Router {
  const router = Router();
  const member = requireTabloAccess(db);

  router.get('/tablos/:tabloId/discussion', requireSignIn(), member, async (req, res) => {
    res.send(await discussionPage(db, live, req, res, {}));
  });

  router.post('/tablos/:tabloId/discussion/messages', requireSignIn(), member, async (req, res) => {
    const access = tabloAccess(res);
    const draft = readDraft(req.body);
    // Not sent: the reason under the composer (htmx), or the page again with the draft kept.
    const refuse = async (status: number, error: string, kept: string) => {
      res.status(status);
      if (wantsFragment(req)) res.send(renderPartial('composer-error', { error }));
      else res.send(await discussionPage(db, live, req, res, { error, draft: kept }));
    };
    if ('error' in draft) return refuse(422, draft.error, draft.raw);
    const authorId = signedInUser(res).id;
    const allowance = await posting.take(authorId);
    if (!allowance.ok) {
      const wait = allowance.retryAfterSeconds;
      res.set('Retry-After', String(wait));
      return refuse(429, `You are posting too fast. Wait ${wait} second${wait === 1 ? '' : 's'}, then send it again.`, draft.body);
    }
    const { message, html, created } = await postMessage(db, live, {
      tabloId: access.tablo.id,
      authorId,
      body: draft.body,
      clientToken: draft.clientToken,
    });
    // A retry of a post already stored (same client_token) is not a new message.
    if (!created) await posting.refund(authorId);
    if (wantsFragment(req)) res.status(201).type('html').send(html);
    else res.redirect(303, `/tablos/${access.tablo.id}/discussion#message-${message.id}`);
  });

  router.get('/tablos/:tabloId/discussion/messages', requireSignIn('fragment'), member, async (req, res) => {
    const access = tabloAccess(res);
    const before = parseSeq(req.query.before);
    const messages = await messagesBefore(db, access.tablo.id, before || undefined);
    res.type('html').send(
      messages.map(renderMessage).join('\n') +
        renderPartial('load-older', { tabloId: access.tablo.id, oldestSeq: oldestShown(messages), oob: true }),
    );
  });

  return router;
}

/**
 * The discussion's stream. It is mounted ahead of the session, logging and metrics middleware
 * (see streamSignIn), so an open stream holds only what it needs.
 */
export function discussionStreamRoutes({ db, live, readTracker }: DiscussionDeps, signedIn: RequestHandler): Router {
  const router = Router();
  router.get('/tablos/:tabloId/discussion/stream', signedIn, requireTabloAccess(db), async (req, res) => {
    const tabloId = tabloAccess(res).tablo.id;
    const owner = streamOwner(signedInUser(res).id, res.locals.sessionId ?? '', tabloId);
    await live.openDiscussionStream(req, res, {
      owner,
      cursor: Math.max(parseSeq(req.query.after), parseSeq(req.get('Last-Event-ID'))),
      source: {
        newestSeq: () => newestSeqFor(db, owner),
        eventsAfter: (afterSeq, limit) => framedEventsAfter(db, tabloId, afterSeq, limit),
      },
      lastRead: (o, seq) => readTracker.seen(tabloId, o.userId, seq),
    });
  });
  return router;
}

/**
 * The tablo's newest seq, or why this reader may no longer see it: its session ended, or its
 * person is no longer a member.
 */
async function newestSeqFor(
  db: Database,
  owner: { userId: number; sessionId: string; tabloId?: number },
): Promise<number | 'signed-out' | 'access-ended'> {
  const row = await db
    .selectNoFrom((eb) => [
      eb
        .exists(eb.selectFrom('sessions').select('sid').where('sid', '=', owner.sessionId).where('expire', '>', new Date()))
        .as('signed_in'),
      eb
        .selectFrom('tablos as t')
        .innerJoin('tablo_members as m', 'm.tablo_id', 't.id')
        .select('t.last_seq')
        .where('t.id', '=', owner.tabloId ?? 0)
        .where('m.user_id', '=', owner.userId)
        .as('last_seq'),
    ])
    .executeTakeFirstOrThrow();
  if (!row.signed_in) return 'signed-out';
  return row.last_seq ?? 'access-ended';
}

async function discussionPage(
  db: Database,
  live: Live,
  req: Request,
  res: Response,
  composer: { error?: string; draft?: string },
): Promise<string> {
  const access = tabloAccess(res);
  const messages = await messagesBefore(db, access.tablo.id, undefined);
  const newestSeq = messages.at(-1)?.seq ?? 0;
  // Opening the discussion reads it up to what it shows.
  const userId = signedInUser(res).id;
  if (newestSeq && (await markRead(db, access.tablo.id, userId, newestSeq))) {
    live.readAdvanced([{ tabloId: access.tablo.id, userId, seq: newestSeq }]);
  }
  return renderPage(req, res, 'discussion', {
    pageTitle: access.tablo.title,
    tablo: access.tablo,
    messages: messages.map(renderMessage),
    oldestSeq: oldestShown(messages),
    // The stream starts after the newest message on the page: one posted in between is not lost.
    streamUrl: `/tablos/${access.tablo.id}/discussion/stream?after=${newestSeq}`,
    clientToken: randomUUID(),
    error: composer.error,
    draft: composer.draft ?? '',
    // Who is here, counting this reader, whose stream is about to open.
    presence: await live.renderPresence(access.tablo.id, userId),
    unreadTotal: await unreadTotal(db, userId),
  });
}

/** The seq a "load older" control asks before, or 0 when the first message is already shown. */
function oldestShown(messages: { seq: number }[]): number {
  const oldest = messages[0]?.seq ?? 0;
  return oldest > 1 && messages.length === PAGE_SIZE ? oldest : 0;
}

type Draft = { body: string; clientToken: string | undefined } | { error: string; raw: string };

function readDraft(form: Record<string, unknown> | undefined): Draft {
  const raw = typeof form?.body === 'string' ? form.body : '';
  // Browsers send textarea line breaks as CRLF; a bare CR would also end an SSE line.
  const body = raw.replace(/\r\n?/g, '\n').trim();
  const token = form?.client_token;
  const characters = [...body].length;
  if (characters === 0) return { error: 'Write something before sending.', raw };
  if (characters > MAX_BODY_CHARACTERS) {
    return { error: `Messages can be at most 5,000 characters; this one has ${characters.toLocaleString('en')}.`, raw };
  }
  // Tabs and line breaks are text; other control characters (NUL above all, which PostgreSQL
  // cannot store) are not.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(body)) {
    return { error: 'This message contains characters that cannot be sent.', raw };
  }
  if (token !== undefined && (typeof token !== 'string' || token.length > MAX_CLIENT_TOKEN_LENGTH)) {
    return { error: 'This message could not be sent as it was. Reload the page and try again.', raw };
  }
  return { body, clientToken: token || undefined };
}

/** A seq from a query or header: a non-negative integer, or 0. */
function parseSeq(value: unknown): number {
  if (typeof value !== 'string' || !/^\d{1,10}$/.test(value)) return 0;
  const seq = Number(value);
  return seq <= 2_147_483_647 ? seq : 0;
}
