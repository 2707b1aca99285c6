import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // seq numbers a tablo's messages 1, 2, 3… in commit order: it is taken from tablos.last_seq
  // under that row's lock inside the inserting transaction. It is the stream's event id.
  await sql`
    CREATE TABLE messages (
      id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      tablo_id integer NOT NULL REFERENCES tablos (id) ON DELETE CASCADE,
      seq integer NOT NULL,
      author_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      body text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 5000),
      client_token text CHECK (char_length(client_token) <= 64),
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (tablo_id, seq)
    )`.execute(db);
  // A retried or double-clicked post carries the same token and stores one message.
  await sql`
    CREATE UNIQUE INDEX messages_client_token_key ON messages (tablo_id, author_id, client_token)
    WHERE client_token IS NOT NULL`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE messages`.execute(db);
}
