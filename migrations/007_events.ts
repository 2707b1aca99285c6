import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // One log of changes per tablo: a new message, an edit, a deletion, a reaction each take the
  // tablo's next seq (under the tablo row's lock, in commit order). The stream's event id is that
  // seq; the event carries the changed message in its current state. A message's own seq stays the
  // seq of its creation.
  await sql`
    CREATE TABLE tablo_events (
      tablo_id integer NOT NULL REFERENCES tablos (id) ON DELETE CASCADE,
      seq integer NOT NULL,
      message_id integer NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
      kind text NOT NULL CHECK (kind IN ('created', 'edited', 'deleted', 'reacted', 'quoted')),
      PRIMARY KEY (tablo_id, seq)
    )`.execute(db);
  await sql`CREATE INDEX tablo_events_message_idx ON tablo_events (message_id)`.execute(db);
  await sql`
    INSERT INTO tablo_events (tablo_id, seq, message_id, kind)
    SELECT tablo_id, seq, id, 'created' FROM messages`.execute(db);

  // version grows with every change to the message (the browser keeps the highest it has shown);
  // a deleted message keeps its row (and its place) but not its body.
  await sql`
    ALTER TABLE messages
      ADD COLUMN version integer NOT NULL DEFAULT 1,
      ADD COLUMN edited_at timestamptz,
      ADD COLUMN deleted_at timestamptz,
      ADD COLUMN reply_to integer REFERENCES messages (id) ON DELETE SET NULL,
      DROP CONSTRAINT messages_body_check,
      ADD CONSTRAINT messages_body_check CHECK (
        CASE WHEN deleted_at IS NULL THEN char_length(body) BETWEEN 1 AND 5000 ELSE body = '' END)`.execute(db);
  await sql`CREATE INDEX messages_reply_to_idx ON messages (reply_to) WHERE reply_to IS NOT NULL`.execute(db);

  await sql`
    CREATE TABLE reactions (
      message_id integer NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
      user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      emoji text NOT NULL CHECK (char_length(emoji) BETWEEN 1 AND 16),
      created_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (message_id, user_id, emoji)
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE reactions, tablo_events`.execute(db);
  await sql`DELETE FROM messages WHERE deleted_at IS NOT NULL`.execute(db);
  await sql`
    ALTER TABLE messages
      DROP CONSTRAINT messages_body_check,
      DROP COLUMN version, DROP COLUMN edited_at, DROP COLUMN deleted_at, DROP COLUMN reply_to,
      ADD CONSTRAINT messages_body_check CHECK (char_length(body) BETWEEN 1 AND 5000)`.execute(db);
}
