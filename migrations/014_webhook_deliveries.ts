import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // A bot's page lists its recent webhook deliveries: the outbox entries of kind `webhook` for it.
  await sql`CREATE INDEX outbox_webhook_bot_idx ON outbox (((payload ->> 'bot')::integer), id) WHERE kind = 'webhook'`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX outbox_webhook_bot_idx`.execute(db);
}
