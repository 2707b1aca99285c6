import { randomUUID } from 'node:crypto';
import { type Request, type RequestHandler, type Response, Router } from 'express';
import { requireSignIn, signedInUser } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import type { StreamOwner } from '../live/broker.ts';
import { type Live, streamOwner } from '../live/live.ts';
import type { MessageSource } from '../live/stream.ts';
import { renderBell } from '../notify/routes.ts';
import { accessTo, membershipOf, requireMember, requireTabloAccess, type TabloAccess, tabloAccess } from '../tablos/policy.ts';
import type { AccessCache } from '../web/access-cache.ts';
import { titleCounts } from '../tablos/tablos.ts';
import { HttpError, notFound, wantsFragment } from '../web/errors.ts';
import { parseId } from '../web/ids.ts';
import type { PostingLimit } from '../web/limits.ts';
import { renderPage, renderPartial } from '../web/views.ts';
import { type Changed, deleteMessage, editMessage, framedEventsAfter, isMessageOf, postMessage, toggleReaction } from './discussion.ts';
import { renderMessage } from './fragment.ts';
import { attachFiles, discardUnreferenced, type IncomingFile } from '../files/files.ts';
import type { FileStore } from '../files/store.ts';
import { receiveUpload } from '../files/upload.ts';
import { readBody } from './drafts.ts';
import { findMessage, MAX_CLIENT_TOKEN_LENGTH, type Message, messagesBefore, messagesFrom, PAGE_SIZE } from './messages.ts';
import { markRead, type ReadTracker } from './read-state.ts';

export type DiscussionDeps = {
  db: Database;
  live: Live;
  readTracker: ReadTracker;
  posting: PostingLimit;
  files: { store: FileStore; maxFileBytes: number };
  /** Sessions, people and memberships remembered for the posting route (see AccessCache). */
  access: AccessCache;
};

export function discussionRoutes({ db, live, posting, files, access: accessCache }: DiscussionDeps): Router {
  const router = Router();
  const member = requireTabloAccess(db);
  const poster = requireMember(db, accessCache);
  const fileBytes = { discardUnreferenced: (sha256s: string[]) => discardUnreferenced(db, files.store, sha256s) };

  router.get('/tablos/:tabloId/discussion', requireSignIn(), member, async (req, res) => {
    // `?before={seq}`: older messages as a page of their own, the "load older" link without JavaScript.
    const before = parseSeq(req.query.before);
    if (before) {
      res.send(await olderMessagesPage(db, req, res, before));
      return;
    }
    const at = req.query.at === undefined ? undefined : parseSeq(req.query.at) || undefined;
    res.send(await discussionPage(db, live, req, res, { maxFileBytes: files.maxFileBytes }, at));
  });

  // A message, or files (multipart, each file a message of its own: see attachFiles).
  router.post('/tablos/:tabloId/discussion/messages', requireSignIn(), poster, async (req, res) => {
    const { tabloId } = membershipOf(res);
    // Not sent: the reason under the composer (htmx), or the page again with the draft kept.
    const refuse = async (status: number, error: string, kept: string) => {
      if (wantsFragment(req)) return void res.status(status).send(renderPartial('composer-error', { error }));
      // The page shows where the reader had got to: its access is read afresh, not remembered.
      res.locals.access = await accessTo(db, signedInUser(res).id, tabloId);
      if (!res.locals.access) throw notFound();
      res.status(status).send(await discussionPage(db, live, req, res, { error, draft: kept, maxFileBytes: files.maxFileBytes }));
    };
    let form = req.body as Record<string, unknown> | undefined;
    let incoming: IncomingFile[] = [];
    if (req.is('multipart/form-data')) {
      const upload = await receiveUpload(req, files.store, { maxFileBytes: files.maxFileBytes, checkCsrfField: req.checkCsrfField });
      if (!upload.ok) {
        // What was not read of it is not read: the connection closes after the answer.
        res.set('Connection', 'close');
        if (upload.status === 403) throw new HttpError(403, 'This form has expired', 'Reload the page and try again.');
        return refuse(upload.status, upload.reason, '');
      }
      form = upload.fields;
      incoming = upload.files;
    }
    const draft = readDraft(form, { captionOnly: incoming.length > 0 });
    const authorId = signedInUser(res).id;
    if (incoming.length) {
      try {
        return await postFiles(req, res, tabloId, authorId, draft, incoming, refuse);
      } finally {
        for (const file of incoming) await files.store.discard(file.received).catch(() => {});
      }
    }
    if ('error' in draft) return refuse(422, draft.error, draft.raw);
    const allowance = await posting.take(authorId);
    if (!allowance.ok) {
      const wait = allowance.retryAfterSeconds;
      res.set('Retry-After', String(wait));
      return refuse(429, `You are posting too fast. Wait ${wait} second${wait === 1 ? '' : 's'}, then send it again.`, draft.body);
    }
    if (draft.replyTo !== undefined && !(await isMessageOf(db, tabloId, draft.replyTo))) {
      return refuse(422, 'The message you are replying to is not in this discussion.', draft.body);
    }
    const { message, html, created } = await postMessage(db, live, {
      tabloId: tabloId,
      authorId,
      body: draft.body,
      clientToken: draft.clientToken,
      replyTo: draft.replyTo,
    });
    // A retry of a post already stored (same client_token) is not a new message.
    if (!created) await posting.refund(authorId);
    if (wantsFragment(req)) res.status(201).type('html').send(html);
    else res.redirect(303, `/tablos/${tabloId}/discussion#message-${message.id}`);
  });

  /** Files posted from the composer: one message each, the caption with the first. */
  async function postFiles(
    req: Request,
    res: Response,
    tabloId: number,
    authorId: number,
    draft: Draft,
    incoming: IncomingFile[],
    refuse: (status: number, error: string, kept: string) => Promise<void>,
  ): Promise<void> {
    if ('error' in draft) return refuse(422, draft.error, draft.raw);
    // Each file counts against the posting limit; all of them go, or none.
    let taken = 0;
    for (; taken < incoming.length; taken++) {
      const allowance = await posting.take(authorId);
      if (allowance.ok) continue;
      for (let i = 0; i < taken; i++) await posting.refund(authorId);
      const wait = allowance.retryAfterSeconds;
      res.set('Retry-After', String(wait));
      return refuse(429, `You are posting too fast. Wait ${wait} second${wait === 1 ? '' : 's'}, then send it again.`, draft.body);
    }
    if (draft.replyTo !== undefined && !(await isMessageOf(db, tabloId, draft.replyTo))) {
      for (let i = 0; i < taken; i++) await posting.refund(authorId);
      return refuse(422, 'The message you are replying to is not in this discussion.', draft.body);
    }
    const posted = await attachFiles(
      { db, live, store: files.store },
      { tabloId, authorId, caption: draft.body, clientToken: draft.clientToken, replyTo: draft.replyTo, files: incoming.splice(0) },
    );
    for (const one of posted) if (!one.created) await posting.refund(authorId);
    const last = posted.at(-1)!.message;
    if (wantsFragment(req)) res.status(201).type('html').send(posted.map((p) => p.html).join('\n'));
    else res.redirect(303, `/tablos/${tabloId}/discussion#message-${last.id}`);
  }

  router.get('/tablos/:tabloId/discussion/messages', requireSignIn('fragment'), member, async (req, res) => {
    const access = tabloAccess(res);
    const before = parseSeq(req.query.before);
    const messages = await messagesBefore(db, access.tablo.id, before || undefined);
    res.type('html').send(
      messages.map((m) => renderMessage(m)).join('\n') +
        renderPartial('load-older', { tabloId: access.tablo.id, oldestSeq: oldestShown(messages), oob: true }),
    );
  });

  // A message's permalink: the discussion around it.
  router.get('/tablos/:tabloId/discussion/messages/:messageId', requireSignIn(), member, async (req, res) => {
    const message = await messageOfRoute(db, req, res);
    res.redirect(303, permalink(message));
  });

  // The author's inline editor: the form with the body's source.
  router.get('/tablos/:tabloId/discussion/messages/:messageId/edit', requireSignIn(), member, async (req, res) => {
    const message = await messageOfRoute(db, req, res);
    if (message.deletedAt) throw notFound();
    if (message.authorId !== signedInUser(res).id) throw onlyTheAuthor();
    res.send(editForm(req, res, message, { body: message.body }));
  });

  router.post('/tablos/:tabloId/discussion/messages/:messageId/edit', requireSignIn(), member, async (req, res) => {
    const access = tabloAccess(res);
    const messageId = messageIdOf(req);
    const draft = readBody(req.body?.body);
    if ('error' in draft) {
      const message = await findMessage(db, messageId);
      if (!message || message.tabloId !== access.tablo.id || message.deletedAt) throw notFound();
      res.status(422).send(editForm(req, res, message, { body: draft.raw, error: draft.error }));
      return;
    }
    const edited = await editMessage(db, live, { tabloId: access.tablo.id, messageId, userId: signedInUser(res).id, body: draft.body });
    answerChange(req, res, edited, (changed) => permalink(changed.message));
  });

  router.post('/tablos/:tabloId/discussion/messages/:messageId/delete', requireSignIn(), member, async (req, res) => {
    const access = tabloAccess(res);
    const deleted = await deleteMessage(db, live, {
      tabloId: access.tablo.id,
      messageId: messageIdOf(req),
      userId: signedInUser(res).id,
      ownerId: access.tablo.ownerId,
    }, fileBytes);
    answerChange(req, res, deleted, () => `/tablos/${access.tablo.id}/discussion`);
  });

  router.post('/tablos/:tabloId/discussion/messages/:messageId/reactions', requireSignIn(), member, async (req, res) => {
    const access = tabloAccess(res);
    const messageId = messageIdOf(req);
    const emoji = readEmoji(req.body?.emoji);
    if (emoji === undefined) {
      if (!(await isMessageOf(db, access.tablo.id, messageId))) throw notFound();
      res.status(422).type(wantsFragment(req) ? 'text/plain' : 'html');
      res.send(wantsFragment(req) ? 'A reaction is an emoji or a short text, 1 to 16 characters.' : renderPage(req, res, 'error', {
        pageTitle: 'Not a reaction', status: 422, title: 'Not a reaction', text: 'A reaction is an emoji or a short text, 1 to 16 characters.',
      }));
      return;
    }
    const toggled = await toggleReaction(db, live, { tabloId: access.tablo.id, messageId, userId: signedInUser(res).id, emoji });
    answerChange(req, res, toggled, (changed) => permalink(changed.message));
  });

  return router;
}

/** A change's answer: htmx gets the changed message's fragment, a plain form a 303. */
function answerChange(req: Request, res: Response, outcome: Changed | 'not-found' | 'forbidden', redirectTo: (changed: Changed) => string): void {
  if (outcome === 'not-found') throw notFound();
  if (outcome === 'forbidden') throw onlyTheAuthor();
  if (wantsFragment(req)) res.status(200).type('html').send(outcome.html);
  else res.redirect(303, redirectTo(outcome));
}

const onlyTheAuthor = () =>
  new HttpError(403, 'Only its author can do that', 'A message is edited by its author, and deleted by its author or the tablo’s owner.');

function permalink(message: Message): string {
  return `/tablos/${message.tabloId}/discussion?at=${message.seq}`;
}

function messageIdOf(req: Request): number {
  const id = parseId(req.params.messageId);
  if (id === undefined) throw notFound();
  return id;
}

/** The route's message, when it belongs to the route's tablo. */
async function messageOfRoute(db: Database, req: Request, res: Response): Promise<Message> {
  const message = await findMessage(db, messageIdOf(req));
  if (!message || message.tabloId !== tabloAccess(res).tablo.id) throw notFound();
  return message;
}

/** The edit form: a fragment for the inline editor, or a page of its own without JavaScript. */
function editForm(req: Request, res: Response, message: Message, form: { body: string; error?: string }): string {
  const data = { tabloId: message.tabloId, messageId: message.id, body: form.body, error: form.error, csrfToken: res.locals.csrfToken ?? req.csrfToken?.() };
  if (wantsFragment(req)) return renderPartial('edit-message', data);
  return renderPage(req, res, 'edit-message', { ...data, pageTitle: 'Edit message', tablo: tabloAccess(res).tablo });
}

/**
 * The discussion's stream. It is mounted ahead of the session, logging and metrics middleware
 * (see streamSignIn), so an open stream holds only what it needs.
 */
export function discussionStreamRoutes({ db, live, readTracker, access: accessCache }: DiscussionDeps, signedIn: RequestHandler): Router {
  const router = Router();
  // Made once for every stream (each says whose it is): an open stream holds no closures of its own.
  const source: MessageSource = {
    newestSeq: (owner) => newestSeqFor(db, owner),
    eventsAfter: (afterSeq, limit, tabloId) => framedEventsAfter(db, tabloId, afterSeq, limit),
  };
  const lastRead = (owner: StreamOwner, seq: number) => {
    if (owner.tabloId !== undefined) readTracker.seen(owner.tabloId, owner.userId, seq);
  };
  // The membership may be remembered: the stream reads it again once subscribed (newestSeqFor).
  router.get('/tablos/:tabloId/discussion/stream', signedIn, requireMember(db, accessCache), async (req, res) => {
    const { tabloId } = membershipOf(res);
    // `hidden=1`: the page's tab is hidden (it reconnects when that changes): not present, reads nothing.
    const owner = streamOwner(signedInUser(res).id, res.locals.sessionId ?? '', tabloId, { hidden: req.query.hidden === '1' });
    await live.openDiscussionStream(req, res, {
      owner,
      cursor: Math.max(parseSeq(req.query.after), parseSeq(req.get('Last-Event-ID'))),
      source,
      lastRead,
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
  owner: StreamOwner,
): Promise<number | 'signed-out' | 'access-ended'> {
  const row = await db
    .selectNoFrom((eb) => [
      eb
        .exists(eb.selectFrom('sessions').select('sid').where('sid', '=', owner.sessionId ?? '').where('expire', '>', new Date()))
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
  composer: { error?: string; draft?: string; maxFileBytes: number },
  at?: number,
): Promise<string> {
  const access = tabloAccess(res);
  // The newest seq is read before the messages (with the access, afresh for every page: see
  // TabloAccess): a change committed in between is on the page and replayed by the stream too (the
  // browser keeps the higher version), never on neither.
  const newestSeq = access.tablo.lastSeq;
  const userId = signedInUser(res).id;
  const [shown, presence, counts] = await Promise.all([
    at === undefined ? latestPage(db, access.tablo.id) : pageAround(db, access.tablo.id, at),
    // Who is here, counting this reader, whose stream is about to open.
    live.renderPresence(access.tablo.id, userId),
    // Opening the discussion reads it up to its newest event; the title counts what is unread after that.
    readUpTo(db, live, access, userId, newestSeq).then(() => titleCounts(db, userId)),
  ]);
  return renderPage(req, res, 'discussion', {
    pageTitle: access.tablo.title,
    tablo: access.tablo,
    messages: shown.messages.map((m) => renderMessage(m, { highlighted: m.seq === at })),
    oldestSeq: shown.olderRemain ? (shown.messages[0]?.seq ?? 0) : 0,
    newerRemain: shown.newerRemain,
    // Where the reader had got to (read with the access check, before opening marks it read): "new since you left".
    lastReadSeq: access.lastReadSeq,
    skipLink: COMPOSER_SKIP_LINK,
    streamUrl: `/tablos/${access.tablo.id}/discussion/stream?after=${newestSeq}`,
    clientToken: randomUUID(),
    maxUploadMb: Math.round((composer.maxFileBytes / (1024 * 1024)) * 10) / 10,
    error: composer.error,
    draft: composer.draft ?? '',
    presence,
    ...counts,
    bell: renderBell(req, res, access.tablo.id, access.notificationLevel),
  });
}

/** Marks the discussion read up to `seq`, unless the reader had read that far already (no write, no round trip). */
async function readUpTo(db: Database, live: Live, access: TabloAccess, userId: number, seq: number): Promise<void> {
  if (seq <= access.lastReadSeq) return;
  if (await markRead(db, access.tablo.id, userId, seq)) live.readAdvanced([{ tabloId: access.tablo.id, userId, seq }]);
}

type Shown = { messages: Message[]; olderRemain: boolean; newerRemain: boolean };

/** The newest messages. */
async function latestPage(db: Database, tabloId: number): Promise<Shown> {
  const messages = await messagesBefore(db, tabloId, undefined);
  return { messages, olderRemain: (messages[0]?.seq ?? 0) > 1 && messages.length === PAGE_SIZE, newerRemain: false };
}

const SHOWN_BEFORE = 20;

/** A permalink's page: a few messages before the one at `seq`, it, and what follows. */
async function pageAround(db: Database, tabloId: number, seq: number): Promise<Shown> {
  const before = await messagesBefore(db, tabloId, seq, SHOWN_BEFORE);
  const from = await messagesFrom(db, tabloId, seq, PAGE_SIZE - SHOWN_BEFORE + 1);
  const newerRemain = from.length > PAGE_SIZE - SHOWN_BEFORE;
  return {
    messages: [...before, ...from.slice(0, PAGE_SIZE - SHOWN_BEFORE)],
    olderRemain: (before[0]?.seq ?? 0) > 1 && before.length === SHOWN_BEFORE,
    newerRemain,
  };
}

const COMPOSER_SKIP_LINK = { href: '#composer-body', label: 'Skip to composer' };

/** Older messages, read-only and without the stream: what "load older" opens without JavaScript. */
async function olderMessagesPage(db: Database, req: Request, res: Response, before: number): Promise<string> {
  const access = tabloAccess(res);
  const messages = await messagesBefore(db, access.tablo.id, before);
  return renderPage(req, res, 'discussion', {
    pageTitle: access.tablo.title,
    tablo: access.tablo,
    history: true,
    messages: messages.map((m) => renderMessage(m)),
    oldestSeq: oldestShown(messages),
    ...(await titleCounts(db, signedInUser(res).id)),
  });
}

/** The seq a "load older" control asks before, or 0 when the first message is already shown. */
function oldestShown(messages: { seq: number }[]): number {
  const oldest = messages[0]?.seq ?? 0;
  return oldest > 1 && messages.length === PAGE_SIZE ? oldest : 0;
}

type Draft = { body: string; clientToken: string | undefined; replyTo: number | undefined } | { error: string; raw: string };

/** The composer's fields; with files, the body is their caption and may be empty. */
function readDraft(form: Record<string, unknown> | undefined, options: { captionOnly: boolean } = { captionOnly: false }): Draft {
  const empty = typeof form?.body !== 'string' || form.body.trim() === '';
  const read = options.captionOnly && empty ? { body: '', raw: '' } : readBody(form?.body);
  if ('error' in read) return read;
  const token = form?.client_token;
  if (token !== undefined && (typeof token !== 'string' || token.length > MAX_CLIENT_TOKEN_LENGTH)) {
    return { error: 'This message could not be sent as it was. Reload the page and try again.', raw: read.raw };
  }
  const replyField = form?.reply_to;
  const replyTo = replyField === undefined || replyField === '' ? undefined : parseId(replyField);
  if (replyField !== undefined && replyField !== '' && replyTo === undefined) {
    return { error: 'The message you are replying to is not in this discussion.', raw: read.raw };
  }
  return { body: read.body, clientToken: token || undefined, replyTo };
}

const MAX_EMOJI_CHARACTERS = 16;

/** A reaction: an emoji or a short text, 1–16 characters, on one line. */
function readEmoji(field: unknown): string | undefined {
  if (typeof field !== 'string') return undefined;
  const emoji = field.trim();
  const characters = [...emoji].length;
  if (characters < 1 || characters > MAX_EMOJI_CHARACTERS) return undefined;
  if (/[\u0000-\u001f\u007f]/.test(emoji)) return undefined;
  return emoji;
}

/** A seq from a query or header: a non-negative integer, or 0. */
function parseSeq(value: unknown): number {
  if (typeof value !== 'string' || !/^\d{1,10}$/.test(value)) return 0;
  const seq = Number(value);
  return seq <= 2_147_483_647 ? seq : 0;
}
