import { sql, type Transaction } from 'kysely';
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

/** Work a realtime bus may add to the inserting transaction (a NOTIFY is delivered on commit). */
export type InTransaction = (trx: Transaction<Tables>, message: Message) => Promise<void>;

/**
 * Stores a message and commits. The seq is the tablo's next number, taken under the tablo row's
 * lock, so seq order is commit order. A client_token seen before (same author, same tablo) stores
 * nothing and answers the message it stored the first time.
 */
export async function storeMessage(
  db: Database,
  input: { tabloId: number; authorId: number; body: string; clientToken: string | undefined },
  inTransaction?: InTransaction,
): Promise<{ message: Message; created: boolean }> {
  return db.transaction().execute(async (trx) => {
    const tablo = await trx
      .selectFrom('tablos')
      .select('last_seq')
      .where('id', '=', input.tabloId)
      .forUpdate()
      .executeTakeFirstOrThrow();
    if (input.clientToken) {
      // Checked under the lock: a concurrent twin has either committed (found here) or waits.
      const existing = await messagesQuery(trx)
        .where('m.tablo_id', '=', input.tabloId)
        .where('m.author_id', '=', input.authorId)
        .where('m.client_token', '=', input.clientToken)
        .executeTakeFirst();
      if (existing) return { message: toMessage(existing), created: false };
    }
    const seq = tablo.last_seq + 1;
    await trx
      .updateTable('tablos')
      .set({ last_seq: seq, last_activity_at: sql`now()` })
      .where('id', '=', input.tabloId)
      .execute();
    const inserted = await trx
      .insertInto('messages')
      .values({
        tablo_id: input.tabloId,
        seq,
        author_id: input.authorId,
        body: input.body,
        client_token: input.clientToken ?? null,
      })
      .returning(['id', 'created_at'])
      .executeTakeFirstOrThrow();
    const author = await trx.selectFrom('users').select('name').where('id', '=', input.authorId).executeTakeFirstOrThrow();
    const message: Message = {
      id: inserted.id,
      tabloId: input.tabloId,
      seq,
      authorId: input.authorId,
      authorName: author.name,
      body: input.body,
      createdAt: inserted.created_at,
    };
    await inTransaction?.(trx, message);
    return { message, created: true };
  });
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
