import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { handleInput } from '../accounts/handles.ts';
import { createToken } from '../accounts/tokens.ts';
import { createBotAccount } from '../accounts/users.ts';
import type { Database } from '../db/database.ts';
import type { Live } from '../live/live.ts';
import { isOneLineText } from '../web/text.ts';
import { webhookUrlProblem } from '../web/urls.ts';

/**
 * Bot accounts: made by a tablo's owner, members of that tablo, mentionable by their handle,
 * signed in only with API tokens. A bot with a webhook URL has a signing secret (Standard
 * Webhooks: `whsec_` + base64 of random bytes), shown once and kept to sign deliveries.
 */
export type Bot = { id: number; tabloId: number; name: string; handle: string; webhookUrl: string | null; createdAt: Date };

export type BotEffects = Pick<Live, 'revokeWith' | 'tabloChanged'>;

const SECRET_BYTES = 32;

/** The bot form's fields: a name, an optional handle, an optional webhook URL. */
const botForm = z.object({
  name: z
    .string({ error: 'Name the bot.' })
    .trim()
    .min(1, 'Name the bot.')
    .max(80, 'Keep the name to 80 characters.')
    .refine(isOneLineText, 'Use only printable characters in the name.'),
  handle: z
    .string()
    .optional()
    .transform((value) => (value?.trim() ? value : undefined))
    .pipe(handleInput.optional()),
  webhook_url: z
    .string()
    .optional()
    .transform((value) => value?.trim() || undefined),
});

export type BotInput = { name: string; handle: string | undefined; webhookUrl: string | undefined };

/** Reads the bot form; answers the first problem of each field, or the bot to make. */
export async function readBotForm(
  form: unknown,
  allowPrivateUrls: boolean,
): Promise<{ ok: true; bot: BotInput } | { ok: false; errors: Record<string, string> }> {
  const parsed = botForm.safeParse(form ?? {});
  if (!parsed.success) {
    const errors: Record<string, string> = {};
    for (const issue of parsed.error.issues) errors[String(issue.path[0])] ??= issue.message;
    return { ok: false, errors };
  }
  const { name, handle, webhook_url: webhookUrl } = parsed.data;
  const problem = webhookUrl === undefined ? undefined : await webhookUrlProblem(webhookUrl, allowPrivateUrls);
  if (problem) return { ok: false, errors: { webhook_url: problem } };
  return { ok: true, bot: { name, handle, webhookUrl } };
}

/**
 * Makes a bot, a member of the tablo, with its first token (and its webhook secret); both are
 * answered once. Undefined when the handle asked for is taken.
 */
export async function createBot(
  db: Database,
  effects: BotEffects,
  input: BotInput & { tabloId: number; createdBy: number },
): Promise<{ bot: Bot; token: string; webhookSecret: string | undefined } | undefined> {
  const webhookSecret = input.webhookUrl ? `whsec_${randomBytes(SECRET_BYTES).toString('base64')}` : undefined;
  const made = await db.transaction().execute(async (trx) => {
    const account = await createBotAccount(trx, { name: input.name, handle: input.handle });
    if (!account) return undefined;
    await trx.insertInto('tablo_members').values({ tablo_id: input.tabloId, user_id: account.id, role: 'member' }).execute();
    const row = await trx
      .insertInto('bots')
      .values({
        user_id: account.id,
        tablo_id: input.tabloId,
        created_by: input.createdBy,
        webhook_url: input.webhookUrl ?? null,
        webhook_secret: webhookSecret ?? null,
      })
      .returning(['created_at'])
      .executeTakeFirstOrThrow();
    const token = await createToken(trx, account.id, 'bot');
    const bot: Bot = { id: account.id, tabloId: input.tabloId, name: account.name, handle: account.handle, webhookUrl: input.webhookUrl ?? null, createdAt: row.created_at };
    return { bot, token: token.value };
  });
  if (!made) return undefined;
  effects.tabloChanged(input.tabloId, 'members');
  return { ...made, webhookSecret };
}

export async function botsOf(db: Database, tabloId: number): Promise<Bot[]> {
  return botQuery(db).where('b.tablo_id', '=', tabloId).orderBy('u.name').execute();
}

export async function findBot(db: Database, tabloId: number, botId: number): Promise<Bot | undefined> {
  return botQuery(db).where('b.tablo_id', '=', tabloId).where('b.user_id', '=', botId).executeTakeFirst();
}

/** A new token for the bot; its old ones stop working and their streams close, on every instance. */
export async function rotateBotToken(db: Database, effects: BotEffects, bot: Bot): Promise<string> {
  return effects.revokeWith({ userId: bot.id }, 'signed-out', async (trx) => {
    await trx.deleteFrom('api_tokens').where('user_id', '=', bot.id).execute();
    return (await createToken(trx, bot.id, 'bot')).value;
  });
}

/**
 * Deletes a bot: its tokens, its membership and its webhook go, and its streams close on every
 * instance. Its account stays, without tokens, so the messages it posted keep their author.
 */
export async function deleteBot(db: Database, effects: BotEffects, bot: Bot): Promise<void> {
  await effects.revokeWith({ userId: bot.id }, 'access-ended', async (trx) => {
    await trx.deleteFrom('api_tokens').where('user_id', '=', bot.id).execute();
    await trx.deleteFrom('bots').where('user_id', '=', bot.id).execute();
    await trx.deleteFrom('tablo_members').where('user_id', '=', bot.id).where('tablo_id', '=', bot.tabloId).execute();
  });
  effects.tabloChanged(bot.tabloId, 'members');
}

function botQuery(db: Database) {
  return db
    .selectFrom('bots as b')
    .innerJoin('users as u', 'u.id', 'b.user_id')
    .select(['u.id', 'b.tablo_id as tabloId', 'u.name', 'u.handle', 'b.webhook_url as webhookUrl', 'b.created_at as createdAt']);
}
