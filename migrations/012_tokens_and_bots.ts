import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // A bot is an account like a person's (it is a member, it posts, it is mentioned), marked as a
  // bot: it has no password anyone knows and never signs in with a browser, only with a token.
  await sql`ALTER TABLE users ADD COLUMN bot boolean NOT NULL DEFAULT false`.execute(db);

  // API tokens: only their SHA-256 is kept, looked up by it. A revoked token's row is deleted.
  await sql`
    CREATE TABLE api_tokens (
      id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
      token_hash bytea NOT NULL UNIQUE,
      created_at timestamptz NOT NULL DEFAULT now(),
      last_used_at timestamptz
    )`.execute(db);
  await sql`CREATE INDEX api_tokens_user_idx ON api_tokens (user_id)`.execute(db);

  // A bot belongs to one tablo, made by its owner. Deleting a bot deletes this row, its tokens and
  // its membership; its user row stays, so the messages it posted keep their author and the log
  // keeps every seq. The webhook secret is kept to sign deliveries (it is shown once, on creation).
  await sql`
    CREATE TABLE bots (
      user_id integer PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
      tablo_id integer NOT NULL REFERENCES tablos (id) ON DELETE CASCADE,
      created_by integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      webhook_url text,
      webhook_secret text,
      created_at timestamptz NOT NULL DEFAULT now(),
      CHECK ((webhook_url IS NULL) = (webhook_secret IS NULL))
    )`.execute(db);
  await sql`CREATE INDEX bots_tablo_idx ON bots (tablo_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE bots, api_tokens`.execute(db);
  await sql`ALTER TABLE users DROP COLUMN bot`.execute(db);
}
