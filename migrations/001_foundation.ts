import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    CREATE TABLE users (
      id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      email text NOT NULL,
      name text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 80),
      password_hash text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  // Emails are stored lower-cased by the app; the index makes "email taken" race-free.
  await sql`CREATE UNIQUE INDEX users_email_key ON users (lower(email))`.execute(db);

  // The layout connect-pg-simple expects.
  await sql`
    CREATE TABLE sessions (
      sid varchar NOT NULL PRIMARY KEY,
      sess json NOT NULL,
      expire timestamp(6) NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX sessions_expire_idx ON sessions (expire)`.execute(db);

  await sql`
    CREATE TABLE tablos (
      id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      title text NOT NULL CHECK (char_length(title) BETWEEN 1 AND 120),
      owner_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      last_seq integer NOT NULL DEFAULT 0,
      last_activity_at timestamptz NOT NULL DEFAULT now(),
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`
    CREATE TABLE tablo_members (
      tablo_id integer NOT NULL REFERENCES tablos (id) ON DELETE CASCADE,
      user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      role text NOT NULL CHECK (role IN ('owner', 'member')),
      last_read_seq integer NOT NULL DEFAULT 0,
      joined_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (tablo_id, user_id)
    )`.execute(db);
  await sql`CREATE INDEX tablo_members_user_idx ON tablo_members (user_id)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE tablo_members, tablos, sessions, users`.execute(db);
}
