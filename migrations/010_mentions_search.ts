import { type Kysely, sql } from 'kysely';
import { mentionsIn } from '../src/discussion/mentions.ts';

const BACKFILL_BATCH = 500;

export async function up(db: Kysely<unknown>): Promise<void> {
  // Who a message mentions, as it says now (an edit rewrites it): one row per member mentioned
  // by handle, the handle as it was typed (lower-cased), so the fragment keeps showing it even
  // after that person picks another handle; `@all` is a flag on the message.
  await sql`
    CREATE TABLE mentions (
      message_id integer NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
      user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      handle text NOT NULL,
      PRIMARY KEY (message_id, user_id)
    )`.execute(db);
  await sql`CREATE INDEX mentions_user_idx ON mentions (user_id, message_id)`.execute(db);
  await sql`ALTER TABLE messages ADD COLUMN mentions_all boolean NOT NULL DEFAULT false`.execute(db);
  await backfillMentions(db);

  // People: a person's messages in the tablos one shares with them.
  await sql`CREATE INDEX messages_author_idx ON messages (author_id, tablo_id) WHERE deleted_at IS NULL`.execute(db);

  // Search: full text over each message's current body, whatever its language's accents and
  // case (unaccent, then the `simple` configuration: no stemming, no stop words, so any language
  // written with spaces works). unaccent() is only STABLE (its dictionary could change); the
  // wrapper names the dictionary outright and is declared IMMUTABLE so a generated column may use
  // it. Queries go through the same function (src/search/search.ts).
  await createUnaccent(db);
  const { rows } = await sql<{ schema: string; icu: boolean }>`
    SELECT n.nspname AS schema, EXISTS (SELECT 1 FROM pg_collation WHERE collname = 'und-x-icu') AS icu
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'unaccent'`.execute(db);
  const schema = rows[0]?.schema ?? 'public';
  // Lower-casing follows the database's LC_CTYPE, which may be "C" (ASCII only: the embedded
  // PostgreSQL's): where PostgreSQL has ICU, its root collation lower-cases every script.
  const lower = rows[0]?.icu ? 'lower(%s COLLATE "und-x-icu")' : 'lower(%s)';
  const unaccented = `"${schema.replace(/"/g, '""')}".unaccent('"${schema.replace(/"/g, '""').replace(/'/g, "''")}".unaccent'::regdictionary, $1)`;
  await sql`
    CREATE FUNCTION tablo_search_text(text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    AS ${sql.lit(`SELECT ${lower.replace('%s', unaccented)}`)}`.execute(db);
  // A deleted message's body is empty: nothing of it can be found.
  await sql`
    ALTER TABLE messages ADD COLUMN search_vector tsvector
      GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, tablo_search_text(body))) STORED`.execute(db);
  await sql`CREATE INDEX messages_search_idx ON messages USING gin (search_vector)`.execute(db);
}

async function createUnaccent(db: Kysely<unknown>): Promise<void> {
  try {
    await sql`CREATE EXTENSION IF NOT EXISTS unaccent`.execute(db);
  } catch (error) {
    throw new Error(
      'Search needs the PostgreSQL extension unaccent: run `CREATE EXTENSION unaccent;` in this database as a superuser (or as its owner on PostgreSQL 13+, where it is trusted), then start Tablo again.',
      { cause: error },
    );
  }
}

/** Existing messages get their mentions as posting them now would record them. */
async function backfillMentions(db: Kysely<unknown>): Promise<void> {
  const members = new Map<number, { id: number; handle: string }[]>();
  const membersOf = async (tabloId: number) => {
    let list = members.get(tabloId);
    if (!list) {
      const { rows } = await sql<{ id: number; handle: string }>`
        SELECT u.id, u.handle FROM tablo_members m JOIN users u ON u.id = m.user_id WHERE m.tablo_id = ${tabloId}`.execute(db);
      members.set(tabloId, (list = rows));
    }
    return list;
  };
  let after = 0;
  for (;;) {
    const { rows } = await sql<{ id: number; tablo_id: number; body: string }>`
      SELECT id, tablo_id, body FROM messages
      WHERE id > ${after} AND deleted_at IS NULL AND position('@' in body) > 0
      ORDER BY id LIMIT ${BACKFILL_BATCH}`.execute(db);
    if (rows.length === 0) return;
    for (const message of rows) {
      const found = mentionsIn(message.body, await membersOf(message.tablo_id));
      if (found.all) await sql`UPDATE messages SET mentions_all = true WHERE id = ${message.id}`.execute(db);
      for (const mention of found.mentions) {
        await sql`INSERT INTO mentions (message_id, user_id, handle) VALUES (${message.id}, ${mention.userId}, ${mention.handle})`.execute(db);
      }
    }
    after = rows.at(-1)!.id;
  }
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX messages_search_idx`.execute(db);
  await sql`ALTER TABLE messages DROP COLUMN search_vector, DROP COLUMN mentions_all`.execute(db);
  await sql`DROP FUNCTION tablo_search_text(text)`.execute(db);
  await sql`DROP INDEX messages_author_idx`.execute(db);
  await sql`DROP TABLE mentions`.execute(db);
}
