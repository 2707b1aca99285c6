import { type RawBuilder, sql, type Transaction } from 'kysely';
import type { Database } from '../db/database.ts';
import type { Tables } from '../db/schema.ts';

export type Message = {
  id: number;
  tabloId: number;
  seq: number;
  authorId: number;
  authorName: string;
  body: string;
  createdAt: Date;
};

export const PAGE_SIZE = 50;
export const MAX_BODY_CHARACTERS = 5000;
export const MAX_CLIENT_TOKEN_LENGTH = 64;

/**
 * Stores a message, numbered and committed in one statement. The seq is the tablo's next number,
 * taken by the UPDATE of the tablo row, whose lock lasts only as long as this statement: seq order
 * is commit order, and posts to one tablo queue for microseconds, not round trips. A client_token
 * seen before (same author, same tablo) makes the insert fail on the unique index, which undoes
 * the numbering too; the message stored the first time is answered instead. `announce` (the
 * live engine's, with several instances) is a CTE that tells the others on commit, in commit order.
 */
export async function storeMessage(
  db: Database,
  input: { tabloId: number; authorId: number; body: string; clientToken: string | undefined },
  announce?: RawBuilder<unknown>,
): Promise<{ message: Message; created: boolean }> {
  // A retry is usually a retry: answer it without touching the tablo row.
  const earlier = input.clientToken ? await findByClientToken(db, input) : undefined;
  if (earlier) return { message: earlier, created: false };
  const notify = announce ?? sql``;
  const counted = announce ? sql`, (SELECT count(*) FROM notified) AS notices` : sql``;
  try {
    const { rows } = await sql<{ id: number; seq: number; created_at: Date; name: string }>`
      WITH numbered AS (
        UPDATE tablos SET last_seq = last_seq + 1, last_activity_at = now()
        WHERE id = ${input.tabloId}
        RETURNING id, last_seq
      ), inserted AS (
        INSERT INTO messages (tablo_id, seq, author_id, body, client_token)
        SELECT id, last_seq, ${input.authorId}, ${input.body}, ${input.clientToken ?? null} FROM numbered
        RETURNING id, tablo_id, seq, created_at
      )${notify}
      SELECT inserted.id, inserted.seq, inserted.created_at, u.name${counted}
      FROM inserted JOIN users u ON u.id = ${input.authorId}`.execute(db);
    const row = rows[0];
    if (!row) throw new Error(`tablo ${input.tabloId} does not exist`);
    const message: Message = {
      id: row.id,
      tabloId: input.tabloId,
      seq: row.seq,
      authorId: input.authorId,
      authorName: row.name,
      body: input.body,
      createdAt: row.created_at,
    };
    return { message, created: true };
  } catch (error) {
    // A concurrent twin with the same token committed first.
    const twin = (error as { code?: string }).code === '23505' && input.clientToken ? await findByClientToken(db, input) : undefined;
    if (twin) return { message: twin, created: false };
    throw error;
  }
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

/** Messages after a seq, oldest first: the stream's backfill. */
export async function messagesAfter(db: Database, tabloId: number, afterSeq: number, limit: number): Promise<Message[]> {
  const rows = await messagesQuery(db)
    .where('m.tablo_id', '=', tabloId)
    .where('m.seq', '>', afterSeq)
    .orderBy('m.seq')
    .limit(limit)
    .execute();
  return rows.map(toMessage);
}

/** Up to `limit` messages before a seq (or the newest ones), oldest first. */
export async function messagesBefore(db: Database, tabloId: number, beforeSeq: number | undefined, limit = PAGE_SIZE) {
  let query = messagesQuery(db).where('m.tablo_id', '=', tabloId);
  if (beforeSeq !== undefined) query = query.where('m.seq', '<', beforeSeq);
  const rows = await query.orderBy('m.seq', 'desc').limit(limit).execute();
  return rows.reverse().map(toMessage);
}

export async function findMessage(db: Database, messageId: number): Promise<Message | undefined> {
  const row = await messagesQuery(db).where('m.id', '=', messageId).executeTakeFirst();
  return row && toMessage(row);
}

function messagesQuery(db: Database | Transaction<Tables>) {
  return db
    .selectFrom('messages as m')
    .innerJoin('users as u', 'u.id', 'm.author_id')
    .select(['m.id', 'm.tablo_id', 'm.seq', 'm.author_id', 'u.name', 'm.body', 'm.created_at']);
}

function toMessage(row: {
  id: number;
  tablo_id: number;
  seq: number;
  author_id: number;
  name: string;
  body: string;
  created_at: Date;
}): Message {
  return {
    id: row.id,
    tabloId: row.tablo_id,
    seq: row.seq,
    authorId: row.author_id,
    authorName: row.name,
    body: row.body,
    createdAt: row.created_at,
  };
}
