import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Who has a discussion open, per app instance, for presence across several instances. Each
  // instance rewrites its own rows and refreshes seen_at; rows of a crashed instance age out.
  await sql`
    CREATE UNLOGGED TABLE presence (
      instance_id text NOT NULL,
      tablo_id integer NOT NULL REFERENCES tablos (id) ON DELETE CASCADE,
      user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      seen_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (instance_id, tablo_id, user_id)
    )`.execute(db);
  await sql`CREATE INDEX presence_tablo_idx ON presence (tablo_id, seen_at)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE presence`.execute(db);
}
