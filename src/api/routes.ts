import express, { type Request, Router } from 'express';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { Database } from '../db/database.ts';
import { deleteMessage, editMessage, framedEventsAfter, isMessageOf, postMessage } from '../discussion/discussion.ts';
import { readBody } from '../discussion/drafts.ts';
import { messageJson } from '../discussion/message-json.ts';
import { MAX_BODY_CHARACTERS, MAX_CLIENT_TOKEN_LENGTH, type Message, messagesPage } from '../discussion/messages.ts';
import { attachFiles } from '../files/files.ts';
import type { FileStore } from '../files/store.ts';
import { receiveUpload } from '../files/upload.ts';
import type { Live } from '../live/live.ts';
import { tokenStreamOwner } from '../live/live.ts';
import { membershipOf, requireMember } from '../tablos/policy.ts';
import type { AccessCache } from '../web/access-cache.ts';
import { parseId } from '../web/ids.ts';
import type { PostingLimit } from '../web/limits.ts';
import { requireToken, tokenOf } from './auth.ts';
import { ApiError, apiNotFound, handleApiErrors } from './errors.ts';
import { openApiDocument } from './openapi.ts';

export type ApiDeps = {
  db: Database;
  live: Live;
  posting: PostingLimit;
  logger: Logger;
  files: { store: FileStore; maxFileBytes: number };
  /** Tokens and memberships remembered for the routes a bot hits over and over. */
  access: AccessCache;
};

export const API_PREFIX = '/api/v1';
const DEFAULT_PAGE = 50;
const MAX_PAGE = 100;

const postInput = z.object({
  body: z.string({ error: 'body is required (a string).' }),
  client_token: z.string().min(1).max(MAX_CLIENT_TOKEN_LENGTH, `client_token: at most ${MAX_CLIENT_TOKEN_LENGTH} characters.`).optional(),
  reply_to: z.number().int().positive().max(2_147_483_647).nullable().optional(),
});
const editInput = z.object({ body: z.string({ error: 'body is required (a string).' }) });

/**
 * The JSON API for bots, scripts and @tablo/client: the same domain verbs and rules as the pages
 * (membership, author/owner, the posting limit, validation), signed in with a bearer token only.
 * Mounted ahead of the session and CSRF middleware: it never reads a cookie.
 */
export function apiRoutes({ db, live, posting, logger, files, access }: ApiDeps): Router {
  const router = Router();
  router.get('/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  router.use(express.json({ limit: '64kb', type: ['application/json', 'application/*+json'] }));
  router.use(requireToken(db, access));
  // Remembered briefly, forgotten at once on a removal (see AccessCache); the event stream checks again once subscribed.
  const member = requireMember(db, access, noSuchTablo);

  router.get('/tablos', async (_req, res) => {
    const tablos = await db
      .selectFrom('tablos as t')
      .innerJoin('tablo_members as m', 'm.tablo_id', 't.id')
      .select(['t.id', 't.title', 't.last_seq'])
      .where('m.user_id', '=', tokenOf(res).user.id)
      .orderBy('t.id')
      .execute();
    res.json({ tablos });
  });

  router.get('/tablos/:tabloId/messages', member, async (req, res) => {
    const page = readPage(req);
    const messages = await messagesPage(db, membershipOf(res).tabloId, page);
    res.json({ messages: messages.map(messageJson) });
  });

  router.post('/tablos/:tabloId/messages', member, async (req, res) => {
    const input = parsed(postInput, req.body);
    const draft = readBody(input.body);
    if ('error' in draft) throw new ApiError(422, draft.error);
    const { tabloId } = membershipOf(res);
    const authorId = tokenOf(res).user.id;
    const allowance = await posting.take(authorId);
    if (!allowance.ok) throw new ApiError(429, 'Posting too fast: wait, then send it again.', allowance.retryAfterSeconds);
    if (input.reply_to != null && !(await isMessageOf(db, tabloId, input.reply_to))) {
      await posting.refund(authorId);
      throw new ApiError(422, 'reply_to: no such message in this tablo.');
    }
    const { message, created } = await postMessage(db, live, {
      tabloId,
      authorId,
      body: draft.body,
      clientToken: input.client_token,
      replyTo: input.reply_to ?? undefined,
    });
    // A retry of a post already stored (same client_token) is not a new message.
    if (!created) await posting.refund(authorId);
    res.status(created ? 201 : 200).json({ message: messageJson(message) });
  });

  // Files (multipart `file` parts, an optional `body` caption): each file a message of its own, as in the composer.
  router.post('/tablos/:tabloId/files', member, async (req, res) => {
    if (!req.is('multipart/form-data')) throw new ApiError(422, 'Send multipart/form-data with one or more `file` parts.');
    const upload = await receiveUpload(req, files.store, { maxFileBytes: files.maxFileBytes, checkCsrfField: undefined });
    if (!upload.ok) {
      // What was not read of it is not read: the connection closes after the answer.
      res.set('Connection', 'close');
      throw new ApiError(upload.status, upload.reason);
    }
    try {
      if (upload.files.length === 0) throw new ApiError(422, 'No file: send one or more `file` parts.');
      const caption = typeof upload.fields.body === 'string' ? upload.fields.body.replace(/\r\n?/g, '\n').trim() : '';
      if ([...caption].length > MAX_BODY_CHARACTERS) throw new ApiError(422, `body: at most ${MAX_BODY_CHARACTERS} characters.`);
      const clientToken = typeof upload.fields.client_token === 'string' && upload.fields.client_token ? upload.fields.client_token : undefined;
      if (clientToken && clientToken.length > MAX_CLIENT_TOKEN_LENGTH) throw new ApiError(422, `client_token: at most ${MAX_CLIENT_TOKEN_LENGTH} characters.`);
      const authorId = tokenOf(res).user.id;
      // Each file counts against the posting limit; all of them go, or none.
      for (let taken = 0; taken < upload.files.length; taken++) {
        const allowance = await posting.take(authorId);
        if (allowance.ok) continue;
        for (let i = 0; i < taken; i++) await posting.refund(authorId);
        throw new ApiError(429, 'Posting too fast: wait, then send it again.', allowance.retryAfterSeconds);
      }
      const posted = await attachFiles(
        { db, live, store: files.store },
        { tabloId: membershipOf(res).tabloId, authorId, caption, clientToken, replyTo: undefined, files: upload.files.splice(0) },
      );
      for (const one of posted) if (!one.created) await posting.refund(authorId);
      res.status(posted.some((p) => p.created) ? 201 : 200).json({ messages: posted.map((p) => messageJson(p.message)) });
    } finally {
      for (const file of upload.files) await files.store.discard(file.received).catch(() => {});
    }
  });

  router.patch('/tablos/:tabloId/messages/:messageId', member, async (req, res) => {
    const input = parsed(editInput, req.body);
    const draft = readBody(input.body);
    if ('error' in draft) throw new ApiError(422, draft.error);
    const edited = await editMessage(db, live, { tabloId: membershipOf(res).tabloId, messageId: messageIdOf(req), userId: tokenOf(res).user.id, body: draft.body });
    res.json({ message: messageJson(changedMessage(edited)) });
  });

  router.delete('/tablos/:tabloId/messages/:messageId', member, async (req, res) => {
    const { tabloId, ownerId } = membershipOf(res);
    const deleted = await deleteMessage(db, live, { tabloId, messageId: messageIdOf(req), userId: tokenOf(res).user.id, ownerId });
    changedMessage(deleted);
    res.status(204).end();
  });

  router.use(apiNotFound);
  router.use(handleApiErrors(logger));
  return router;
}

/**
 * The tablo's log as SSE for programs: the discussion stream's engine and rules (resume from
 * `after` / Last-Event-ID, resync over 500, keep-alive, slow readers cut), JSON events. Mounted
 * ahead of the logging and metrics middleware, like the discussion's stream.
 */
export function apiStreamRoutes({ db, live, logger, access }: ApiDeps): Router {
  const router = Router();
  router.get('/tablos/:tabloId/events', requireToken(db, access), requireMember(db, access, noSuchTablo), async (req, res) => {
    const { tokenId, tokenKey, user } = tokenOf(res);
    const tabloId = membershipOf(res).tabloId;
    await live.openDiscussionStream(req, res, {
      owner: tokenStreamOwner(user.id, tokenKey, tabloId),
      cursor: Math.max(seqOf(req.query.after), seqOf(req.get('Last-Event-ID'))),
      source: {
        newestSeq: () => newestSeqForToken(db, { tokenId, userId: user.id, tabloId }),
        eventsAfter: (afterSeq, limit) => framedEventsAfter(db, tabloId, afterSeq, limit),
      },
      format: 'json',
    });
  });
  router.use(handleApiErrors(logger));
  return router;
}

/** The tablo's newest seq, or why this token may no longer read it: revoked, or no longer a member. */
async function newestSeqForToken(db: Database, owner: { tokenId: number; userId: number; tabloId: number }) {
  const row = await db
    .selectNoFrom((eb) => [
      eb.exists(eb.selectFrom('api_tokens').select('id').where('id', '=', owner.tokenId)).as('valid'),
      eb
        .selectFrom('tablos as t')
        .innerJoin('tablo_members as m', 'm.tablo_id', 't.id')
        .select('t.last_seq')
        .where('t.id', '=', owner.tabloId)
        .where('m.user_id', '=', owner.userId)
        .as('last_seq'),
    ])
    .executeTakeFirstOrThrow();
  if (!row.valid) return 'signed-out' as const;
  return row.last_seq ?? ('access-ended' as const);
}

const noSuchTablo = () => new ApiError(404, 'No such tablo.');

function parsed<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.length ? `${issue.path.join('.')}: ` : '';
  throw new ApiError(422, `${where}${issue?.message ?? 'invalid input'}`.replace(/^(\w+): \1: /, '$1: '));
}

function changedMessage(outcome: { message: Message } | 'not-found' | 'forbidden'): Message {
  if (outcome === 'not-found') throw new ApiError(404, 'No such message.');
  if (outcome === 'forbidden') throw new ApiError(403, 'A message is edited by its author, and deleted by its author or the tablo’s owner.');
  return outcome.message;
}

function messageIdOf(req: Request): number {
  const id = parseId(req.params.messageId);
  if (id === undefined) throw new ApiError(404, 'No such message.');
  return id;
}

/** `?after=` or `?before=` (not both), `&limit=` 1–100 (50 by default). */
function readPage(req: Request): { after?: number; before?: number; limit: number } {
  const { after, before, limit } = req.query;
  if (after !== undefined && before !== undefined) throw new ApiError(422, 'Ask for messages after a seq or before one, not both.');
  const number = (value: unknown, name: string, min: number, max: number) => {
    if (value === undefined) return undefined;
    const n = typeof value === 'string' && /^\d{1,10}$/.test(value) ? Number(value) : NaN;
    if (!(n >= min && n <= max)) throw new ApiError(422, `${name}: a whole number from ${min} to ${max}.`);
    return n;
  };
  return {
    after: number(after, 'after', 0, 2_147_483_647),
    before: number(before, 'before', 1, 2_147_483_647),
    limit: number(limit, 'limit', 1, MAX_PAGE) ?? DEFAULT_PAGE,
  };
}

function seqOf(value: unknown): number {
  if (typeof value !== 'string' || !/^\d{1,10}$/.test(value)) return 0;
  const seq = Number(value);
  return seq <= 2_147_483_647 ? seq : 0;
}
