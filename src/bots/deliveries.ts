import { sql } from 'kysely';
import type { Database } from '../db/database.ts';

/** One webhook delivery to a bot, as its outbox entry says. */
export type Delivery = {
  id: number;
  messageId: number;
  webhookId: string;
  status: 'pending' | 'done' | 'dead';
  attempts: number;
  lastError: string | null;
  createdAt: Date;
  /** When it runs next (pending) or last ran (done, dead). */
  runAt: Date;
};

const RECENT = 20;

/** A bot's most recent deliveries, newest first (done ones are purged by the outbox after 7 days). */
export async function recentDeliveries(db: Database, botId: number): Promise<Delivery[]> {
  const { rows } = await sql<Delivery>`
    SELECT id::integer AS id, (payload ->> 'message')::integer AS "messageId", payload ->> 'webhookId' AS "webhookId",
           status, attempts, last_error AS "lastError", created_at AS "createdAt", run_at AS "runAt"
    FROM outbox
    WHERE kind = 'webhook' AND (payload ->> 'bot')::integer = ${botId}
    ORDER BY id DESC
    LIMIT ${RECENT}`.execute(db);
  return rows;
}

/**
 * Sends a dead delivery again: pending, due now, its attempts counted afresh (and the same
 * webhook-id). Answers whether there was such a dead delivery of this bot.
 */
export async function redeliver(db: Database, botId: number, deliveryId: number): Promise<boolean> {
  const { numAffectedRows } = await sql`
    UPDATE outbox SET status = 'pending', run_at = now(), attempts = 0, locked_until = NULL
    WHERE id = ${deliveryId} AND kind = 'webhook' AND (payload ->> 'bot')::integer = ${botId} AND status = 'dead'`.execute(db);
  return (numAffectedRows ?? 0n) > 0n;
}
