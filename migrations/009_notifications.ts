import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // The durable outbox (src/outbox/): side effects that must survive a crash and be retried
  // (Web Push now, webhooks next), written in the same transaction as the change that causes
  // them. A worker claims due entries for a lease (locked_until); an entry whose lease ran out
  // without an answer is due again.
  await sql`
    CREATE TABLE outbox (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      kind text NOT NULL,
      payload jsonb NOT NULL,
      run_at timestamptz NOT NULL DEFAULT now(),
      attempts integer NOT NULL DEFAULT 0,
      last_error text,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done', 'dead')),
      created_at timestamptz NOT NULL DEFAULT now(),
      locked_until timestamptz
    )`.execute(db);
  // The worker's claim reads only pending entries, by when they are due.
  await sql`CREATE INDEX outbox_due_idx ON outbox (run_at) WHERE status = 'pending'`.execute(db);

  // Which messages notify a member: all, mentions of them (or @all) only, or none.
  await sql`
    ALTER TABLE tablo_members
      ADD COLUMN notification_level text NOT NULL DEFAULT 'all' CHECK (notification_level IN ('all', 'mentions', 'none'))`.execute(db);

  // A browser's push subscription (one per endpoint), for the person signed in when it was made.
  await sql`
    CREATE TABLE push_subscriptions (
      id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      user_id integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
      endpoint text NOT NULL UNIQUE,
      p256dh text NOT NULL,
      auth text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX push_subscriptions_user_idx ON push_subscriptions (user_id)`.execute(db);

  // The VAPID key pair, generated once by whichever instance comes first (insert if absent, then
  // read), so every instance signs alike. Unused when VAPID_* are set in the environment.
  await sql`
    CREATE TABLE vapid_keys (
      id smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
      public_key text NOT NULL,
      private_key text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP TABLE vapid_keys, push_subscriptions, outbox`.execute(db);
  await sql`ALTER TABLE tablo_members DROP COLUMN notification_level`.execute(db);
}
