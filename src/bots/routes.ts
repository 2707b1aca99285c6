import { type Request, type Response, Router } from 'express';
import { requireSignIn, signedInUser } from '../accounts/current-user.ts';
import type { Database } from '../db/database.ts';
import { requireOwner, requireTabloAccess, tabloAccess } from '../tablos/policy.ts';
import { notFound } from '../web/errors.ts';
import { parseId } from '../web/ids.ts';
import { renderPage } from '../web/views.ts';
import { recentDeliveries, redeliver } from './deliveries.ts';
import { type Bot, type BotEffects, createBot, deleteBot, findBot, readBotForm, rotateBotToken } from './bots.ts';

/** A tablo's bots: the owner makes them, and on each bot's page rotates its token or deletes it. */
export function botRoutes(db: Database, effects: BotEffects, options: { allowPrivateUrls: boolean }): Router {
  const router = Router();
  const owner = [requireSignIn(), requireTabloAccess(db), requireOwner] as const;

  // The answer is the bot's page with its token (and webhook secret), shown this once: no redirect.
  router.post('/tablos/:tabloId/bots', ...owner, async (req, res) => {
    const { tablo } = tabloAccess(res);
    const form = await readBotForm(req.body, options.allowPrivateUrls);
    if (!form.ok) return newBotPage(req, res, 422, form.errors);
    const made = await createBot(db, effects, { ...form.bot, tabloId: tablo.id, createdBy: signedInUser(res).id });
    if (!made) return newBotPage(req, res, 422, { handle: `@${form.bot.handle} is taken. Try another.` });
    res.send(await botPage(req, res, made.bot, { token: made.token, webhookSecret: made.webhookSecret }));
  });

  router.get('/tablos/:tabloId/bots/new', ...owner, (req, res) => newBotPage(req, res, 200, {}));

  router.get('/tablos/:tabloId/bots/:botId', ...owner, async (req, res) => {
    res.send(await botPage(req, res, await botOfRoute(req, res)));
  });

  router.post('/tablos/:tabloId/bots/:botId/deliveries/:deliveryId/redeliver', ...owner, async (req, res) => {
    const bot = await botOfRoute(req, res);
    const deliveryId = parseId(req.params.deliveryId);
    if (deliveryId === undefined || !(await redeliver(db, bot.id, deliveryId))) throw notFound();
    res.redirect(303, `/tablos/${bot.tabloId}/bots/${bot.id}`);
  });

  router.post('/tablos/:tabloId/bots/:botId/token', ...owner, async (req, res) => {
    const bot = await botOfRoute(req, res);
    const token = await rotateBotToken(db, effects, bot);
    res.send(await botPage(req, res, bot, { token }));
  });

  router.post('/tablos/:tabloId/bots/:botId/delete', ...owner, async (req, res) => {
    const bot = await botOfRoute(req, res);
    await deleteBot(db, effects, bot);
    res.redirect(303, `/tablos/${bot.tabloId}`);
  });

  async function botOfRoute(req: Request, res: Response): Promise<Bot> {
    const botId = parseId(req.params.botId);
    const bot = botId === undefined ? undefined : await findBot(db, tabloAccess(res).tablo.id, botId);
    if (!bot) throw notFound();
    return bot;
  }

  function newBotPage(req: Request, res: Response, status: number, errors: Record<string, string>): void {
    const values = { name: field(req.body?.name), handle: field(req.body?.handle), webhook_url: field(req.body?.webhook_url) };
    res.status(status).send(renderPage(req, res, 'new-bot', { pageTitle: 'New bot', tablo: tabloAccess(res).tablo, errors, values }));
  }

  async function botPage(req: Request, res: Response, bot: Bot, shown: { token?: string; webhookSecret?: string } = {}): Promise<string> {
    const deliveries = bot.webhookUrl ? await recentDeliveries(db, bot.id) : [];
    return renderPage(req, res, 'bot', { pageTitle: bot.name, tablo: tabloAccess(res).tablo, bot, deliveries, ...shown });
  }

  return router;
}

function field(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
