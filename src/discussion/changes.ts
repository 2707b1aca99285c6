import { type RawBuilder, sql } from 'kysely';
import type { Database } from '../db/database.ts';
import type { EventKind } from '../db/schema.ts';
import type { Mentions } from './mentions.ts';

/** The events a change took in its tablo's log: each changed message, its new seq and the kind of change, in seq order. */
export type Logged = { id: number; seq: number; kind: EventKind }[];

export type ChangeOutcome = Logged | 'not-found' | 'forbidden';

/**
 * Edits a message's body (its author only), and who it mentions with it. Its replies quote it,
 * so they change too: each changed message takes the next seq of the log and a new version.
 */
export function storeEdit(
  db: Database,
  input: { tabloId: number; messageId: number; userId: number; body: string; mentions: Mentions },
  announce?: RawBuilder<unknown>,
): Promise<ChangeOutcome> {
  const { mentions, messageId } = input;
  const userIds = mentions.mentions.map((m) => m.userId);
  return changeWithReplies(db, input, {
    kind: 'edited',
    allowed: (authorId) => authorId === input.userId,
    set: { body: sql`${input.body}::text`, edited_at: sql`now()`, deleted_at: sql`m.deleted_at`, mentions_all: sql`${mentions.all}::boolean` },
    // The mentions the new text no longer makes go; the new ones come (no row is both).
    alsoDo: sql`, unmentioned AS (
        DELETE FROM mentions WHERE message_id = ${messageId} AND NOT (user_id = ANY(${userIds}::int[]))
      ), mentioned AS (
        INSERT INTO mentions (message_id, user_id, handle)
        SELECT ${messageId}, mention.user_id, mention.handle
        FROM unnest(${userIds}::int[], ${mentions.mentions.map((m) => m.handle)}::text[]) AS mention (user_id, handle)
        ON CONFLICT (message_id, user_id) DO UPDATE SET handle = excluded.handle
      )`,
    announce,
  });
}

/**
 * Deletes a message (its author, or the tablo's owner): its row and place stay, its body,
 * reactions and attachments go. Its replies quote it, so they change too.
 */
export function storeDeletion(
  db: Database,
  input: { tabloId: number; messageId: number; userId: number; ownerId: number },
  announce?: RawBuilder<unknown>,
): Promise<ChangeOutcome> {
  return changeWithReplies(db, input, {
    kind: 'deleted',
    allowed: (authorId) => authorId === input.userId || input.ownerId === input.userId,
    set: { body: sql`''`, edited_at: sql`m.edited_at`, deleted_at: sql`now()`, mentions_all: sql`false` },
    // Its files go too: their URLs answer 404 from this commit on.
    alsoDo: sql`, unreacted AS (DELETE FROM reactions WHERE message_id = ${input.messageId}),
      unmentioned AS (DELETE FROM mentions WHERE message_id = ${input.messageId}),
      detached AS (DELETE FROM attachments WHERE message_id = ${input.messageId})`,
    announce,
  });
}

/**
 * One change to a message and to the replies quoting it, numbered, logged and announced in one
 * statement. Unlike posting, the tablo row is locked one statement earlier, in the same
 * transaction: READ COMMITTED gives each statement a fresh snapshot, so the changing statement
 * (and the check before it) see every message committed before the lock — a reply posted a
 * moment ago is not left quoting the old text. Edits and deletions are rare; posts stay one statement.
 */
async function changeWithReplies(
  db: Database,
  input: { tabloId: number; messageId: number },
  change: {
    kind: 'edited' | 'deleted';
    allowed: (authorId: number) => boolean;
    /** The target's new columns (its replies keep theirs). */
    set: Record<'body' | 'edited_at' | 'deleted_at' | 'mentions_all', RawBuilder<unknown>>;
    alsoDo: RawBuilder<unknown>;
    announce: RawBuilder<unknown> | undefined;
  },
): Promise<ChangeOutcome> {
  const { tabloId, messageId } = input;
  return db.transaction().execute(async (trx) => {
    await sql`SELECT 1 FROM tablos WHERE id = ${tabloId} FOR UPDATE`.execute(trx);
    const target = await trx
      .selectFrom('messages')
      .select(['author_id', 'deleted_at'])
      .where('id', '=', messageId)
      .where('tablo_id', '=', tabloId)
      .executeTakeFirst();
    if (!target || target.deleted_at) return 'not-found';
    if (!change.allowed(target.author_id)) return 'forbidden';
    const notify = change.announce ?? sql``;
    const counted = change.announce ? sql`, (SELECT count(*) FROM notified) AS notices` : sql``;
    const { rows } = await sql<{ id: number; seq: number; kind: EventKind }>`
      WITH affected AS (
        SELECT id, row_number() OVER (ORDER BY id <> ${messageId}, id) AS n
        FROM messages
        WHERE tablo_id = ${tabloId} AND deleted_at IS NULL AND (id = ${messageId} OR reply_to = ${messageId})
      ), numbered AS (
        UPDATE tablos SET last_seq = last_seq + (SELECT count(*) FROM affected)
        WHERE id = ${tabloId}
        RETURNING last_seq - (SELECT count(*) FROM affected) AS before
      ), changed AS (
        UPDATE messages m SET
          version = m.version + 1,
          body = CASE WHEN m.id = ${messageId} THEN ${change.set.body} ELSE m.body END,
          edited_at = CASE WHEN m.id = ${messageId} THEN ${change.set.edited_at} ELSE m.edited_at END,
          deleted_at = CASE WHEN m.id = ${messageId} THEN ${change.set.deleted_at} ELSE m.deleted_at END,
          mentions_all = CASE WHEN m.id = ${messageId} THEN ${change.set.mentions_all} ELSE m.mentions_all END
        FROM affected, numbered
        WHERE m.id = affected.id
        RETURNING m.id, m.tablo_id, (numbered.before + affected.n)::int AS seq
      ), inserted AS (
        INSERT INTO tablo_events (tablo_id, seq, message_id, kind)
        SELECT tablo_id, seq, id, CASE WHEN id = ${messageId} THEN ${change.kind}::text ELSE 'quoted' END FROM changed
        RETURNING message_id AS id, tablo_id, seq, kind
      )${change.alsoDo}${notify}
      SELECT id, seq, kind${counted} FROM inserted ORDER BY seq`.execute(trx);
    return rows.map((r) => ({ id: r.id, seq: r.seq, kind: r.kind }));
  });
}

/**
 * Toggles one person's reaction on a message, numbered, logged and announced in one statement
 * (like posting: reactions are frequent). Answers undefined for a message that is not in this
 * tablo or is deleted.
 */
export async function storeReactionToggle(
  db: Database,
  input: { tabloId: number; messageId: number; userId: number; emoji: string },
  announce?: RawBuilder<unknown>,
): Promise<Logged | undefined> {
  const { tabloId, messageId, userId, emoji } = input;
  const notify = announce ?? sql``;
  const counted = announce ? sql`, (SELECT count(*) FROM notified) AS notices` : sql``;
  const { rows } = await sql<{ id: number; seq: number; kind: EventKind }>`
    WITH present AS (
      SELECT id FROM messages WHERE id = ${messageId} AND tablo_id = ${tabloId} AND deleted_at IS NULL
    ), numbered AS (
      UPDATE tablos SET last_seq = last_seq + 1
      WHERE id = ${tabloId} AND EXISTS (SELECT 1 FROM present)
      RETURNING last_seq
    ), removed AS (
      DELETE FROM reactions
      WHERE message_id = ${messageId} AND user_id = ${userId} AND emoji = ${emoji} AND EXISTS (SELECT 1 FROM numbered)
      RETURNING 1
    ), added AS (
      INSERT INTO reactions (message_id, user_id, emoji)
      SELECT ${messageId}, ${userId}, ${emoji} FROM numbered WHERE NOT EXISTS (SELECT 1 FROM removed)
      ON CONFLICT DO NOTHING
    ), changed AS (
      UPDATE messages SET version = version + 1
      FROM numbered
      WHERE messages.id = ${messageId}
      RETURNING messages.id, messages.tablo_id, numbered.last_seq AS seq
    ), inserted AS (
      INSERT INTO tablo_events (tablo_id, seq, message_id, kind)
      SELECT tablo_id, seq, id, 'reacted' FROM changed
      RETURNING message_id AS id, tablo_id, seq, kind
    )${notify}
    SELECT id, seq, kind${counted} FROM inserted`.execute(db);
  return rows.length ? rows.map((r) => ({ id: r.id, seq: r.seq, kind: r.kind })) : undefined;
}
