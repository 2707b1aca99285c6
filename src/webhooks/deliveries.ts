import type { Logger } from 'pino';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import type { Database } from '../db/database.ts';
import { postMessage } from '../discussion/discussion.ts';
import { readBody } from '../discussion/drafts.ts';
import { messageJson } from '../discussion/message-json.ts';
import { findMessage } from '../discussion/messages.ts';
import type { Live } from '../live/live.ts';
import type { OutboxHandler } from '../outbox/outbox.ts';
import { sendWebhook, type WebhookAnswer } from './send.ts';

/**
 * A `webhook` outbox entry (one per message and bot it calls, written by the message's own
 * statement) delivers the message to the bot's URL, signed per Standard Webhooks. A non-2xx
 * answer, a timeout or a refused target throws: the outbox retries, then keeps it dead. A 2xx
 * answer with text (or JSON `{"body"}`) is posted as the bot's reply to the message.
 */
export type WebhookDeps = { db: Database; live: Live; allowPrivateUrls: boolean; logger: Logger; timeoutMs?: number };

export const webhookEntry = z.object({ message: z.number().int().positive(), bot: z.number().int().positive(), webhookId: z.string().min(1).max(64) });

const jsonReply = z.object({ body: z.string() });

export function webhookHandlers(deps: WebhookDeps): Record<string, OutboxHandler> {
  return { webhook: (entry) => deliver(deps, webhookEntry.parse(entry.payload)) };
}

async function deliver(deps: WebhookDeps, entry: z.infer<typeof webhookEntry>): Promise<void> {
  const { db } = deps;
  const message = await findMessage(db, entry.message);
  if (!message || message.deletedAt) return;
  const bot = await db
    .selectFrom('bots as b')
    .innerJoin('tablos as t', 't.id', 'b.tablo_id')
    .select(['b.user_id', 'b.webhook_url', 'b.webhook_secret', 't.id as tablo_id', 't.title'])
    .where('b.user_id', '=', entry.bot)
    .where('b.tablo_id', '=', message.tabloId)
    .executeTakeFirst();
  // The bot was deleted or lost its URL since: nothing to deliver.
  if (!bot?.webhook_url || !bot.webhook_secret) return;
  const payload = JSON.stringify({ type: 'message.created', tablo: { id: bot.tablo_id, title: bot.title }, message: messageJson(message) });
  const headers = signed(bot.webhook_secret, entry.webhookId, payload);
  const answer = await sendWebhook(bot.webhook_url, headers, payload, { allowPrivateUrls: deps.allowPrivateUrls, timeoutMs: deps.timeoutMs });
  if (answer.status < 200 || answer.status > 299) throw new Error(`the receiver answered ${answer.status}`);
  const reply = replyIn(answer);
  if (reply === undefined) return;
  const read = readBody(reply);
  if ('error' in read) {
    if (read.raw.trim()) deps.logger.info({ bot: bot.user_id, webhookId: entry.webhookId, problem: read.error }, 'a webhook reply was not posted');
    return;
  }
  // The webhook id as client token: a delivery that runs again (after a crash) posts its reply once.
  await postMessage(db, deps.live, { tabloId: message.tabloId, authorId: bot.user_id, body: read.body, clientToken: entry.webhookId, replyTo: message.id });
}

/** The Standard Webhooks headers, from the maintained implementation (a fresh timestamp each attempt, the same id). */
function signed(secret: string, webhookId: string, payload: string): Record<string, string> {
  const timestamp = new Date();
  const signature = new Webhook(secret).sign(webhookId, timestamp, payload);
  return { 'webhook-id': webhookId, 'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)), 'webhook-signature': signature };
}

/** The reply in a 2xx answer: a text/plain body, or JSON `{"body": "…"}`; anything else is none. */
function replyIn(answer: WebhookAnswer): string | undefined {
  const type = answer.contentType.split(';')[0]!.trim().toLowerCase();
  if (type === 'text/plain') return answer.body;
  if (type === 'application/json' || type.endsWith('+json')) {
    try {
      const parsed = jsonReply.safeParse(JSON.parse(answer.body));
      return parsed.success ? parsed.data.body : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
