import { randomUUID } from 'node:crypto';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import type { Logger } from 'pino';
import { requireSignIn } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import { requireTabloAccess, type TabloAccess } from '../tablos/policy.ts';
import { unreadTotal } from '../tablos/tablos.ts';
import { wantsFragment } from '../web/errors.ts';
import { renderPage, renderPartial } from '../web/views.ts';
import { framedMessagesAfter, postMessage, type Realtime } from './discussion.ts';
import { renderMessage } from './fragment.ts';
import { MAX_BODY_CHARACTERS, MAX_CLIENT_TOKEN_LENGTH, messagesBefore, PAGE_SIZE } from './messages.ts';
import type { CloseReason, StreamOwner } from './broker.ts';
import { markRead } from './read-state.ts';
import { DiscussionStream, EventStream } from './stream.ts';

export function discussionRoutes(db: Database, realtime: Realtime): Router {
  const router = Router();
  const member = requireTabloAccess(db);

  router.get('/tablos/:tabloId/discussion', requireSignIn(), member, async (req, res) => {
    res.send(await discussionPage(db, realtime, req, res, {}));
  });

  router.post('/tablos/:tabloId/discussion/messages', requireSignIn(), member, async (req, res) => {
    const access: TabloAccess = res.locals.access;
    const draft = readDraft(req.body);
    if ('error' in draft) {
      res.status(422);
      if (wantsFragment(req)) res.send(renderPartial('composer-error', { error: draft.error }));
      else res.send(await discussionPage(db, realtime, req, res, { error: draft.error, draft: draft.raw }));
      return;
    }
    const { message, html } = await postMessage(db, realtime, {
      tabloId: access.tablo.id,
      authorId: res.locals.currentUser.id,
      body: draft.body,
      clientToken: draft.clientToken,
    });
    if (wantsFragment(req)) res.status(201).type('html').send(html);
    else res.redirect(303, `/tablos/${access.tablo.id}/discussion#message-${message.id}`);
  });

  router.get('/tablos/:tabloId/discussion/messages', requireSignIn('fragment'), member, async (req, res) => {
    const access: TabloAccess = res.locals.access;
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
 * The two streams: a discussion's, and a person's own. They are mounted ahead of the session,
 * logging and metrics middleware (see streamSignIn), so an open stream holds only what it needs.
 */
export function streamRoutes(db: Database, realtime: Realtime, logger: Logger, signedIn: RequestHandler): Router {
  const router = Router();
  const member = requireTabloAccess(db);
  const observe = streamObserver(realtime, logger);

  router.get('/tablos/:tabloId/discussion/stream', signedIn, member, async (req, res) => {
    const access: TabloAccess = res.locals.access;
    const tabloId = access.tablo.id;
    const owner = { userId: res.locals.currentUser.id, sessionId: res.locals.sessionId as string, tabloId };
    const cursor = Math.max(parseSeq(req.query.after), parseSeq(req.get('Last-Event-ID')));
    DiscussionStream.start(res);
    const stream = new DiscussionStream(
      owner,
      res,
      {
        newestSeq: () => newestSeqFor(db, owner),
        messagesAfter: (afterSeq, limit) => framedMessagesAfter(db, tabloId, afterSeq, limit),
      },
      { ...observe, lastRead: (o, seq) => realtime.readTracker.seen(tabloId, o.userId, seq) },
    );
    req.on('close', () => stream.close('client'));
    logger.info({ stream: 'discussion', ...owner, cursor }, 'stream opened');
    await realtime.beforeSubscribe?.(owner);
    await stream.open(realtime.broker, cursor);
  });

  // A person's own stream, for pages other than a discussion: named events about their tablos
  // (activity, members, tablo, online, read). Nothing to replay: pages re-read what they show
  // on reconnect.
  router.get('/events', signedIn, (req, res) => {
    const owner = { userId: res.locals.currentUser.id, sessionId: res.locals.sessionId as string };
    EventStream.start(res);
    const stream = new EventStream(owner, res, observe);
    req.on('close', () => stream.close('client'));
    logger.info({ stream: 'personal', ...owner }, 'stream opened');
    stream.open(realtime.broker);
  });

  return router;
}

/** Metrics and logs for every stream's life. */
function streamObserver({ metrics }: Realtime, logger: Logger) {
  return {
    written: () => metrics.messagesWritten.inc(),
    named: () => metrics.namedWritten.inc(),
    closed: (owner: StreamOwner, reason: CloseReason) => {
      metrics.streamsClosed.labels(reason).inc();
      if (reason === 'slow-reader') {
        metrics.slowReaders.inc();
        logger.warn({ ...owner, reason }, 'slow reader disconnected');
      } else {
        logger.info({ ...owner, reason }, 'stream closed');
      }
    },
  };
}

/** The tablo's newest seq, if this session still exists and its person is still a member. */
async function newestSeqFor(db: Database, owner: { userId: number; sessionId: string; tabloId: number }) {
  const row = await db
    .selectFrom('tablos as t')
    .innerJoin('tablo_members as m', 'm.tablo_id', 't.id')
    .select('t.last_seq')
    .where('t.id', '=', owner.tabloId)
    .where('m.user_id', '=', owner.userId)
    .where((eb) => eb.exists(eb.selectFrom('sessions').select('sid').where('sid', '=', owner.sessionId)))
    .executeTakeFirst();
  return row?.last_seq;
}

async function discussionPage(
  db: Database,
  realtime: Realtime,
  req: Request,
  res: Response,
  composer: { error?: string; draft?: string },
): Promise<string> {
  const access: TabloAccess = res.locals.access;
  const messages = await messagesBefore(db, access.tablo.id, undefined);
  const newestSeq = messages.at(-1)?.seq ?? 0;
  // Opening the discussion reads it up to what it shows.
  const userId = res.locals.currentUser.id;
  if (newestSeq && (await markRead(db, access.tablo.id, userId, newestSeq))) {
    realtime.bus.readAdvanced([{ tabloId: access.tablo.id, userId, seq: newestSeq }]);
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
    presence: await realtime.fanout.renderPresence(access.tablo.id, userId),
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
