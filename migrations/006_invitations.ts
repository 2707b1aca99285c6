import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Pending invitations only: accepting, declining or cancelling deletes the row, so the unique
  // key is "one pending invitation per tablo and email". The email is stored normalized (trimmed,
  // lower-cased, as users.email is), and may belong to no account yet.
  await sql`
    CREATE TABLE invitations (
      id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      tablo_id integer NOT NULL REFERENCES tablos (id) ON DELETE CASCADE,
      email text NOT NULL CHECK (email = lower(btrim(email))),
      invited_by integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now(),
      UNIQUE (tablo_id, email)
    )`.execute(db);
  await sql`CREATE INDEX invitations_email_idx ON invitations (email)`.execute(db);

  // A tablo's join link: at most one, replaced by making a new one, gone when revoked. The token
  // is kept as is (not hashed) because the owner's tablo page shows the link again to be shared.
  await sql`
    CREATE TABLE join_links (
      tablo_id integer PRIMARY KEY REFERENCES tablos (id) ON DELETE CASCADE,
      token text NOT NULL UNIQUE,
      created_by integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE join_links, invitations`.execute(db);
}
