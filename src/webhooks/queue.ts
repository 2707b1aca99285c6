import { type RawBuilder, sql } from 'kysely';
import type { Mentions } from '../discussion/mentions.ts';

/**
 * A CTE for the statement that stores a message (after a CTE `inserted`): one `webhook` outbox
 * entry per bot of the tablo with a webhook URL that the message mentions (or everyone, `@all`),
 * never the bot that wrote it (a bot's reply cannot call itself back). Its `webhookId` is stable,
 * so every retry of one delivery carries the same `webhook-id` and receivers can deduplicate.
 */
export function queueWebhooksSql(authorId: number, mentions: Pick<Mentions, 'userIds' | 'all'>): RawBuilder<unknown> {
  if (!mentions.all && mentions.userIds.length === 0) return sql``;
  return sql`, hooked AS (
    INSERT INTO outbox (kind, payload)
    SELECT 'webhook', jsonb_build_object('message', i.id, 'bot', b.user_id, 'webhookId', 'msg_' || i.id || '_' || b.user_id)
    FROM inserted i JOIN bots b ON b.tablo_id = i.tablo_id
    WHERE b.webhook_url IS NOT NULL AND b.user_id <> ${authorId}
      AND (${mentions.all}::boolean OR b.user_id = ANY(${mentions.userIds}::int[])))`;
}
