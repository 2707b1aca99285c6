import { type RawBuilder, sql } from 'kysely';
import { type Database, PREPARED } from '../db/database.ts';
import type { EventKind } from '../db/schema.ts';
import { queuePushSql } from '../notify/queue.ts';
import { queueWebhooksSql } from '../webhooks/queue.ts';
import type { Mentions } from './mentions.ts';

/** The people who reacted to a message with one emoji, in the order they did. */
export type Reaction = { emoji: string; userIds: number[]; names: string[] };

/** A file attached to a message (its bytes are in the file store, see src/files/). */
export type Attachment = {
  id: number;
  name: string;
  /** Sniffed from the bytes. */
  type: string;
  size: number;
  width: number | null;
  height: number | null;
  thumbnail: { width: number; height: number } | null;
};

/** What storeMessage records of a file whose bytes are already settled under their sha256. */
export type NewAttachment = {
  sha256: string;
  name: string;
  type: string;
  size: number;
  width: number | null;
  height: number | null;
  thumbnail: { sha256: string; width: number; height: number; size: number } | null;
};

/** The message a reply quotes, as it is now. */
export type Quoted = { id: number; authorName: string; excerpt: string; deleted: boolean };

export type Message = {
  id: number;
  tabloId: number;
  /** The seq of its creation; later changes take new seqs of the log, not this one. */
  seq: number;
  /** 1 when posted, +1 with every change. */
  version: number;
  authorId: number;
  authorName: string;
  authorHandle: string;
  body: string;
  createdAt: Date;
  editedAt: Date | null;
  deletedAt: Date | null;
  replyTo: Quoted | undefined;
  reactions: Reaction[];
  /** The members it mentions by handle (as typed, lower-cased), as its current text says. */
  mentions: { userId: number; handle: string }[];
  /** Whether it mentions everyone (`@all`). */
  mentionsAll: boolean;
  /** At most one: each file is a message of its own. None once deleted. */
  attachments: Attachment[];
};

export const PAGE_SIZE = 50;
export const MAX_BODY_CHARACTERS = 5000;
export const MAX_CLIENT_TOKEN_LENGTH = 64;
/** How much of a quoted message is read for its excerpt. */
const QUOTED_CHARACTERS = 200;

/**
 * Stores a message, numbered, logged and committed in one statement. The seq is the tablo's next
 * number, taken by the UPDATE of the tablo row, whose lock lasts only as long as this statement:
 * seq order is commit order, and posts to one tablo queue for microseconds, not round trips. A
 * client_token seen before (same author, same tablo) makes the insert fail on the unique index,
 * which undoes the numbering too; the message stored the first time is answered instead.
 * `announce` (the live engine's, with several instances) is a CTE that tells the others on
 * commit, in commit order. An attachment's row is inserted by the same statement (its bytes must
 * be settled before; see attachFiles in src/files/files.ts). `queued` writes the message's outbox entry (Web Push), and `hooked` one
 * per bot it calls (webhooks), in the same statement: they exist exactly when the message does.
 */
export async function storeMessage(
  db: Database,
  input: NewMessage,
  announce?: RawBuilder<unknown>,
  attachment?: NewAttachment,
): Promise<{ message: Message; created: boolean }> {
  // A retry is usually a retry: answer it without touching the tablo row.
  const earlier = input.clientToken ? await findByClientToken(db, input) : undefined;
  if (earlier) return { message: earlier, created: false };
  return insertMessage(db, input, announce, attachment);
}

/** storeMessage once the client_token is known to be new (or absent). */
async function insertMessage(
  db: Database,
  input: NewMessage,
  announce?: RawBuilder<unknown>,
  attachment?: NewAttachment,
): Promise<{ message: Message; created: boolean }> {
  const notify = announce ?? sql``;
  const counted = announce ? sql`, (SELECT count(*) FROM notified) AS notices` : sql``;
  try {
    const { rows } = await sql<{ id: number; seq: number; created_at: Date; name: string; handle: string; attachment_id?: number }>`${sql.raw(PREPARED)}WITH numbered AS (
        UPDATE tablos SET last_seq = last_seq + 1, last_activity_at = now()
        WHERE id = ${input.tabloId}
        RETURNING id, last_seq
      ), inserted AS (
        INSERT INTO messages (tablo_id, seq, author_id, body, client_token, reply_to, mentions_all)
        SELECT id, last_seq, ${input.authorId}, ${input.body}, ${input.clientToken ?? null}, ${input.replyTo ?? null}, ${input.mentions.all} FROM numbered
        RETURNING id, tablo_id, seq, created_at, author_id
      ), mentioned AS (
        INSERT INTO mentions (message_id, user_id, handle)
        SELECT inserted.id, mention.user_id, mention.handle
        FROM inserted, unnest(${input.mentions.mentions.map((m) => m.userId)}::int[], ${input.mentions.mentions.map((m) => m.handle)}::text[])
          AS mention (user_id, handle)
      ), logged AS (
        INSERT INTO tablo_events (tablo_id, seq, message_id, kind)
        SELECT tablo_id, seq, id, 'created' FROM inserted
      )${attachment ? attachedCte(attachment) : sql``}${queuePushSql()}${queueWebhooksSql(input.authorId, input.mentions)}${notify}
      SELECT inserted.id, inserted.seq, inserted.created_at, u.name, u.handle${attachment ? sql`, (SELECT id FROM attached) AS attachment_id` : sql``}${counted}
      FROM inserted JOIN users u ON u.id = ${input.authorId}`.execute(db);
    const row = rows[0];
    if (!row) throw new Error(`tablo ${input.tabloId} does not exist`);
    const message: Message = {
      id: row.id,
      tabloId: input.tabloId,
      seq: row.seq,
      version: 1,
      authorId: input.authorId,
      authorName: row.name,
      authorHandle: row.handle,
      body: input.body,
      createdAt: row.created_at,
      editedAt: null,
      deletedAt: null,
      replyTo: undefined,
      reactions: [],
      mentions: input.mentions.mentions,
      mentionsAll: input.mentions.all,
      attachments: attachment && row.attachment_id ? [shownAttachment(row.attachment_id, attachment)] : [],
    };
    return { message, created: true };
  } catch (error) {
    // A concurrent twin with the same token committed first.
    const twin = (error as { code?: string }).code === '23505' && input.clientToken ? await findByClientToken(db, input) : undefined;
    if (twin) return { message: twin, created: false };
    throw error;
  }
}

/** A post on its way to storeMessage or storeMessages. */
export type NewMessage = { tabloId: number; authorId: number; body: string; clientToken: string | undefined; replyTo?: number; mentions: Mentions };

/**
 * Stores several posts to one tablo in one statement and one commit, numbered consecutively in
 * the order given (the tablo's next n seqs, taken by one UPDATE of its row, so seq order is still
 * commit order). Answers one outcome per post, in that order. A client_token stored before (or
 * given twice here) answers the message stored first. If the statement fails (a concurrent twin
 * of a token), nothing of it was stored and each post is stored on its own, failing alone.
 */
export async function storeMessages(
  db: Database,
  posts: NewMessage[],
  announce?: RawBuilder<unknown>,
): Promise<PromiseSettledResult<{ message: Message; created: boolean }>[]> {
  const tabloId = posts[0]?.tabloId;
  if (tabloId === undefined) return [];
  if (posts.some((p) => p.tabloId !== tabloId)) throw new Error('storeMessages stores posts to one tablo');
  // No look-up first: a retry is rare, and the unique index refuses a known token (the whole
  // statement, numbering included), after which each post goes alone and insertMessage answers a
  // known token with the message stored the first time. The common case is one statement.
  // The first post of each new (author, token) is stored; its twins in the batch answer it.
  const firstOf = new Map<string, number>();
  const toStore: number[] = [];
  posts.forEach((post, index) => {
    const key = tokenKey(post);
    if (key !== undefined && firstOf.has(key)) return;
    if (key !== undefined) firstOf.set(key, index);
    toStore.push(index);
  });
  const stored = new Map<number, PromiseSettledResult<{ message: Message; created: boolean }>>();
  const oneByOne = async () => {
    for (const index of toStore) stored.set(index, await settle(insertMessage(db, posts[index]!, announce)));
  };
  if (toStore.length === 1 || toStore.some((index) => mentionsAnyone(posts[index]!))) {
    // A mention may call a bot's webhook, whose outbox entry is written per message: in order, one by one.
    await oneByOne();
  } else {
    try {
      const messages = await insertMessages(db, tabloId, toStore.map((index) => posts[index]!), announce);
      toStore.forEach((index, n) => stored.set(index, { status: 'fulfilled', value: { message: messages[n]!, created: true } }));
    } catch {
      // One post spoiled the statement (nothing of it was stored): each goes on its own.
      await oneByOne();
    }
  }
  return posts.map((post, index) => {
    const own = stored.get(index);
    if (own) return own;
    const first = stored.get(firstOf.get(tokenKey(post)!)!)!;
    return first.status === 'fulfilled' ? { status: 'fulfilled', value: { message: first.value.message, created: false } } : first;
  });
}

/** The numbering, the rows, their mentions, their log events and their notices: one statement. */
async function insertMessages(db: Database, tabloId: number, posts: NewMessage[], announce: RawBuilder<unknown> | undefined): Promise<Message[]> {
  const n = posts.length;
  const mentions = posts.flatMap((post, i) => post.mentions.mentions.map((m) => ({ n: i + 1, ...m })));
  const { rows } = await sql<{ id: number; seq: number; created_at: Date; name: string; handle: string; n: number }>`${sql.raw(PREPARED)}WITH numbered AS (
      UPDATE tablos SET last_seq = last_seq + ${n}, last_activity_at = now()
      WHERE id = ${tabloId}
      RETURNING id, last_seq - ${n} AS base
    ), post AS (
      SELECT * FROM unnest(${posts.map((p) => p.authorId)}::int[], ${posts.map((p) => p.body)}::text[],
                           ${posts.map((p) => p.clientToken ?? null)}::text[], ${posts.map((p) => p.replyTo ?? null)}::int[],
                           ${posts.map((p) => p.mentions.all)}::boolean[])
        WITH ORDINALITY AS post (author_id, body, client_token, reply_to, mentions_all, n)
    ), inserted AS (
      INSERT INTO messages (tablo_id, seq, author_id, body, client_token, reply_to, mentions_all)
      SELECT numbered.id, numbered.base + post.n, post.author_id, post.body, post.client_token, post.reply_to, post.mentions_all
      FROM numbered, post ORDER BY post.n
      RETURNING id, tablo_id, seq, created_at, author_id
    ), mentioned AS (
      INSERT INTO mentions (message_id, user_id, handle)
      SELECT inserted.id, mention.user_id, mention.handle
      FROM numbered CROSS JOIN unnest(${mentions.map((m) => m.n)}::int[], ${mentions.map((m) => m.userId)}::int[], ${mentions.map((m) => m.handle)}::text[])
        AS mention (n, user_id, handle)
      JOIN inserted ON inserted.seq = numbered.base + mention.n
    ), logged AS (
      INSERT INTO tablo_events (tablo_id, seq, message_id, kind)
      SELECT tablo_id, seq, id, 'created' FROM inserted
    )${queuePushSql()}${announce ?? sql``}
    SELECT inserted.id, inserted.seq, inserted.created_at, u.name, u.handle, (inserted.seq - numbered.base)::int AS n${announce ? sql`, (SELECT count(*) FROM notified) AS notices` : sql``}
    FROM inserted JOIN users u ON u.id = inserted.author_id, numbered
    ORDER BY inserted.seq`.execute(db);
  if (rows.length !== n) throw new Error(`tablo ${tabloId} does not exist`);
  return rows.map((row, i) => {
    const post = posts[i]!;
    return {
      id: row.id,
      tabloId,
      seq: row.seq,
      version: 1,
      authorId: post.authorId,
      authorName: row.name,
      authorHandle: row.handle,
      body: post.body,
      createdAt: row.created_at,
      editedAt: null,
      deletedAt: null,
      replyTo: undefined,
      reactions: [],
      mentions: post.mentions.mentions,
      mentionsAll: post.mentions.all,
      attachments: [],
    };
  });
}

function tokenKey(post: { authorId: number; clientToken: string | undefined }): string | undefined {
  return post.clientToken === undefined ? undefined : `${post.authorId} ${post.clientToken}`;
}

function settle<T>(promise: Promise<T>): Promise<PromiseSettledResult<T>> {
  return promise.then(
    (value) => ({ status: 'fulfilled', value }),
    (reason: unknown) => ({ status: 'rejected', reason }),
  );
}

function attachedCte(a: NewAttachment): RawBuilder<unknown> {
  return sql`, attached AS (
        INSERT INTO attachments (message_id, sha256, name, type, size, width, height, thumbnail_sha256, thumbnail_width, thumbnail_height, thumbnail_size)
        SELECT id, ${a.sha256}, ${a.name}, ${a.type}, ${a.size}, ${a.width}, ${a.height},
               ${a.thumbnail?.sha256 ?? null}, ${a.thumbnail?.width ?? null}, ${a.thumbnail?.height ?? null}, ${a.thumbnail?.size ?? null}
        FROM inserted
        RETURNING id
      )`;
}

function shownAttachment(id: number, a: NewAttachment): Attachment {
  const thumbnail = a.thumbnail && { width: a.thumbnail.width, height: a.thumbnail.height };
  return { id, name: a.name, type: a.type, size: a.size, width: a.width, height: a.height, thumbnail };
}

async function findByClientToken(
  db: Database,
  input: { tabloId: number; authorId: number; clientToken: string | undefined },
): Promise<Message | undefined> {
  const row = await messagesQuery(db)
    .where('m.tablo_id', '=', input.tabloId)
    .where('m.author_id', '=', input.authorId)
    .where('m.client_token', '=', input.clientToken ?? '')
    .executeTakeFirst();
  return row && toMessage(row);
}

/**
 * The log after a seq, oldest first: the stream's backfill. Each event comes with the message it
 * changed in its current state, so a replay is never staler than the page.
 */
export async function eventsAfter(
  db: Database,
  tabloId: number,
  afterSeq: number,
  limit: number,
): Promise<{ seq: number; kind: EventKind; message: Message }[]> {
  const rows = await messagesQuery(db)
    .innerJoin('tablo_events as e', 'e.message_id', 'm.id')
    .select(['e.seq as event_seq', 'e.kind'])
    .where('e.tablo_id', '=', tabloId)
    .where('e.seq', '>', afterSeq)
    .orderBy('e.seq')
    .limit(limit)
    .execute();
  return rows.map((row) => ({ seq: row.event_seq, kind: row.kind, message: toMessage(row) }));
}

/** Up to `limit` messages before a seq (or the newest ones), oldest first. */
export async function messagesBefore(db: Database, tabloId: number, beforeSeq: number | undefined, limit = PAGE_SIZE) {
  let query = messagesQuery(db).where('m.tablo_id', '=', tabloId);
  if (beforeSeq !== undefined) query = query.where('m.seq', '<', beforeSeq);
  // Every discussion page reads this: its two texts (with or without `before`) are prepared once per connection.
  const compiled = query.orderBy('m.seq', 'desc').limit(limit).compile();
  const prepared: typeof compiled = { ...compiled, sql: PREPARED + compiled.sql };
  const { rows } = await db.executeQuery(prepared);
  return rows.reverse().map(toMessage);
}

/** Up to `limit` messages from a seq on, oldest first. */
export async function messagesFrom(db: Database, tabloId: number, fromSeq: number, limit = PAGE_SIZE) {
  const rows = await messagesQuery(db).where('m.tablo_id', '=', tabloId).where('m.seq', '>=', fromSeq).orderBy('m.seq').limit(limit).execute();
  return rows.map(toMessage);
}

/** The newest messages across these tablos (deleted ones left out), newest first. */
export async function latestMessagesIn(db: Database, tabloIds: number[], limit: number): Promise<Message[]> {
  if (tabloIds.length === 0) return [];
  const rows = await messagesQuery(db)
    .where('m.tablo_id', 'in', tabloIds)
    .where('m.deleted_at', 'is', null)
    .orderBy('m.created_at', 'desc')
    .orderBy('m.id', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toMessage);
}

/** One person's newest messages in these tablos (deleted ones left out), newest first. */
export async function latestMessagesBy(db: Database, authorId: number, tabloIds: number[], limit: number): Promise<Message[]> {
  if (tabloIds.length === 0) return [];
  const rows = await messagesQuery(db)
    .where('m.author_id', '=', authorId)
    .where('m.tablo_id', 'in', tabloIds)
    .where('m.deleted_at', 'is', null)
    .orderBy('m.id', 'desc')
    .limit(limit)
    .execute();
  return rows.map(toMessage);
}

export async function findMessage(db: Database, messageId: number): Promise<Message | undefined> {
  const row = await messagesQuery(db).where('m.id', '=', messageId).executeTakeFirst();
  return row && toMessage(row);
}

export async function findMessages(db: Database, messageIds: number[]): Promise<Map<number, Message>> {
  if (messageIds.length === 0) return new Map();
  const rows = await messagesQuery(db).where('m.id', 'in', messageIds).execute();
  return new Map(rows.map((row) => [row.id, toMessage(row)]));
}

/**
 * A message with what its fragment shows: its author, the message it replies to (as it is now),
 * and its reactions, grouped by emoji in the order they were first given (people in the order
 * they reacted), so the same state always renders the same bytes.
 */
function messagesQuery(db: Database) {
  return db
    .selectFrom('messages as m')
    .innerJoin('users as u', 'u.id', 'm.author_id')
    .leftJoin('messages as q', 'q.id', 'm.reply_to')
    .leftJoin('users as qu', 'qu.id', 'q.author_id')
    .select([
      'm.id',
      'm.tablo_id',
      'm.seq',
      'm.version',
      'm.author_id',
      'u.name',
      'u.handle',
      'm.body',
      'm.created_at',
      'm.edited_at',
      'm.deleted_at',
      'q.id as quoted_id',
      'qu.name as quoted_author',
      sql<string | null>`left(q.body, ${QUOTED_CHARACTERS})`.as('quoted_excerpt'),
      'q.deleted_at as quoted_deleted_at',
      'm.mentions_all',
      sql<{ userId: number; handle: string }[]>`(
        SELECT coalesce(json_agg(json_build_object('userId', mn.user_id, 'handle', mn.handle) ORDER BY mn.user_id), '[]'::json)
        FROM mentions mn WHERE mn.message_id = m.id)`.as('mentions'),
      sql<Reaction[]>`(
        SELECT coalesce(json_agg(json_build_object('emoji', g.emoji, 'userIds', g.user_ids, 'names', g.names)
                                 ORDER BY g.first_at, g.emoji), '[]'::json)
        FROM (
          SELECT r.emoji, min(r.created_at) AS first_at,
                 array_agg(r.user_id ORDER BY r.created_at, r.user_id) AS user_ids,
                 array_agg(ru.name ORDER BY r.created_at, r.user_id) AS names
          FROM reactions r JOIN users ru ON ru.id = r.user_id
          WHERE r.message_id = m.id AND m.deleted_at IS NULL
          GROUP BY r.emoji
        ) g)`.as('reactions'),
      sql<Attachment[]>`(
        SELECT coalesce(json_agg(json_build_object(
                 'id', a.id, 'name', a.name, 'type', a.type, 'size', a.size, 'width', a.width, 'height', a.height,
                 'thumbnail', CASE WHEN a.thumbnail_sha256 IS NULL THEN NULL
                                   ELSE json_build_object('width', a.thumbnail_width, 'height', a.thumbnail_height) END)
               ORDER BY a.id), '[]'::json)
        FROM attachments a
        WHERE a.message_id = m.id AND m.deleted_at IS NULL)`.as('attachments'),
    ]);
}

type MessageRow = {
  id: number;
  tablo_id: number;
  seq: number;
  version: number;
  author_id: number;
  name: string;
  handle: string;
  body: string;
  created_at: Date;
  edited_at: Date | null;
  deleted_at: Date | null;
  quoted_id: number | null;
  quoted_author: string | null;
  quoted_excerpt: string | null;
  quoted_deleted_at: Date | null;
  reactions: Reaction[];
  mentions_all: boolean;
  mentions: { userId: number; handle: string }[];
  attachments: Attachment[];
};

function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    tabloId: row.tablo_id,
    seq: row.seq,
    version: row.version,
    authorId: row.author_id,
    authorName: row.name,
    authorHandle: row.handle,
    body: row.body,
    createdAt: row.created_at,
    editedAt: row.edited_at,
    deletedAt: row.deleted_at,
    replyTo:
      row.quoted_id === null
        ? undefined
        : {
            id: row.quoted_id,
            authorName: row.quoted_author ?? '',
            excerpt: row.quoted_excerpt ?? '',
            deleted: row.quoted_deleted_at !== null,
          },
    reactions: row.reactions,
    mentions: row.mentions,
    mentionsAll: row.mentions_all,
    attachments: row.attachments,
  };
}

/** Several events of tablos' logs at once, each with its message as it is now; in the order asked (undefined where there is none). */
export async function eventsAt(db: Database, events: { tabloId: number; seq: number }[]): Promise<({ kind: EventKind; message: Message } | undefined)[]> {
  if (events.length === 0) return [];
  const rows = await messagesQuery(db)
    .innerJoin('tablo_events as e', 'e.message_id', 'm.id')
    .select(['e.kind', 'e.tablo_id as event_tablo_id', 'e.seq as event_seq'])
    .where(sql<boolean>`(e.tablo_id, e.seq) IN (SELECT * FROM unnest(${events.map((e) => e.tabloId)}::int[], ${events.map((e) => e.seq)}::int[]))`)
    .execute();
  const found = new Map(rows.map((row) => [`${row.event_tablo_id}:${row.event_seq}`, { kind: row.kind, message: toMessage(row) }]));
  return events.map((e) => found.get(`${e.tabloId}:${e.seq}`));
}

/**
 * A page of messages for programs (the API), deleted ones left out, oldest first: those after a
 * seq, those before one, or the newest.
 */
export async function messagesPage(
  db: Database,
  tabloId: number,
  page: { after?: number; before?: number; limit: number },
): Promise<Message[]> {
  let query = messagesQuery(db).where('m.tablo_id', '=', tabloId).where('m.deleted_at', 'is', null);
  if (page.after !== undefined) {
    const rows = await query.where('m.seq', '>', page.after).orderBy('m.seq').limit(page.limit).execute();
    return rows.map(toMessage);
  }
  if (page.before !== undefined) query = query.where('m.seq', '<', page.before);
  const rows = await query.orderBy('m.seq', 'desc').limit(page.limit).execute();
  return rows.reverse().map(toMessage);
}

function mentionsAnyone(post: NewMessage): boolean {
  return post.mentions.all || post.mentions.userIds.length > 0;
}
