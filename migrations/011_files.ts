import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Each attached file is a message of its own; its bytes live in the file store under their
  // sha256 (the same bytes twice are kept once). A row names the bytes it needs, so bytes that no
  // row names are orphans (swept after an hour). A deleted message's rows go with its deletion.
  await sql`
    CREATE TABLE attachments (
      id serial PRIMARY KEY,
      message_id integer NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
      sha256 text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
      name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 255),
      type text NOT NULL,
      size bigint NOT NULL CHECK (size >= 0),
      width integer,
      height integer,
      thumbnail_sha256 text CHECK (thumbnail_sha256 ~ '^[0-9a-f]{64}$'),
      thumbnail_width integer,
      thumbnail_height integer,
      thumbnail_size integer,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX attachments_message_idx ON attachments (message_id)`.execute(db);
  await sql`CREATE INDEX attachments_sha256_idx ON attachments (sha256)`.execute(db);
  await sql`CREATE INDEX attachments_thumbnail_idx ON attachments (thumbnail_sha256) WHERE thumbnail_sha256 IS NOT NULL`.execute(db);
  // A file's message may have no caption: its body may be empty (the routes still ask 1–5000
  // characters of a message without a file).
  await sql`
    ALTER TABLE messages
      DROP CONSTRAINT messages_body_check,
      ADD CONSTRAINT messages_body_check CHECK (
        CASE WHEN deleted_at IS NULL THEN char_length(body) <= 5000 ELSE body = '' END)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DELETE FROM messages WHERE deleted_at IS NULL AND body = ''`.execute(db);
  await sql`DROP TABLE attachments`.execute(db);
  await sql`
    ALTER TABLE messages
      DROP CONSTRAINT messages_body_check,
      ADD CONSTRAINT messages_body_check CHECK (
        CASE WHEN deleted_at IS NULL THEN char_length(body) BETWEEN 1 AND 5000 ELSE body = '' END)`.execute(db);
}
