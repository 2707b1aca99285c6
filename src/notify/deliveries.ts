import { z } from 'zod';
import type { Database } from '../db/database.ts';
import { findMessage } from '../discussion/messages.ts';
import type { NewEntry, OutboxHandler } from '../outbox/outbox.ts';
import { unreadTotal } from '../tablos/tablos.ts';
import { type VapidKeys, removeSubscription, sendPush } from './push.ts';
import { notifiedMembers } from './recipients.ts';

/**
 * Web Push leaves through the outbox in two steps:
 * - `push`, one entry per new message (written by the message's own statement): decides, when it
 *   runs, who is notified — members by level, not the author, not those reading the discussion
 *   right now, only people with a subscription — and answers one `push.send` per subscription,
 *   written in the transaction that marks it done.
 * - `push.send`, one per (message, subscription): sends one push, retried on its own, so a
 *   push service that fails for one browser never sends twice to the others.
 * One row per message keeps posting cheap whatever the tablo's size; deciding at delivery sees
 * who is here then. Each send checks again that the person is still a member, the message not
 * deleted, the level not `none`, and the person not reading the discussion now.
 */
export type PushDeps = { db: Database; whoIsHere: (tabloId: number) => Promise<number[]>; vapid: VapidKeys };

const pushEntry = z.object({ tablo: z.number().int().positive(), message: z.number().int().positive() });
const sendEntry = pushEntry.extend({ subscription: z.number().int().positive() });

/** How much of a body a notification shows. */
const SNIPPET_CHARACTERS = 120;

export function pushHandlers(deps: PushDeps): Record<string, OutboxHandler> {
  return {
    push: (entry) => fanOut(deps, pushEntry.parse(entry.payload)),
    'push.send': (entry) => sendOne(deps, sendEntry.parse(entry.payload)),
  };
}

async function fanOut({ db, whoIsHere }: PushDeps, entry: z.infer<typeof pushEntry>): Promise<NewEntry[]> {
  const message = await findMessage(db, entry.message);
  if (!message || message.deletedAt || message.tabloId !== entry.tablo) return [];
  const notified = await notifiedMembers(db, message);
  if (notified.length === 0) return [];
  const here = new Set(await whoIsHere(entry.tablo));
  const away = notified.filter((id) => !here.has(id));
  if (away.length === 0) return [];
  const subscriptions = await db.selectFrom('push_subscriptions').select('id').where('user_id', 'in', away).orderBy('id').execute();
  return subscriptions.map((s) => ({ kind: 'push.send', payload: { ...entry, subscription: s.id } }));
}

async function sendOne({ db, whoIsHere, vapid }: PushDeps, entry: z.infer<typeof sendEntry>): Promise<void> {
  const row = await db
    .selectFrom('push_subscriptions as s')
    .innerJoin('tablo_members as tm', (join) => join.onRef('tm.user_id', '=', 's.user_id').on('tm.tablo_id', '=', entry.tablo))
    .innerJoin('messages as m', (join) => join.on('m.id', '=', entry.message).on('m.tablo_id', '=', entry.tablo).on('m.deleted_at', 'is', null))
    .innerJoin('tablos as t', 't.id', 'm.tablo_id')
    .innerJoin('users as u', 'u.id', 'm.author_id')
    .select(['s.id', 's.user_id', 's.endpoint', 's.p256dh', 's.auth', 'tm.notification_level', 't.title', 'u.name as author', 'm.seq', 'm.body'])
    .where('s.id', '=', entry.subscription)
    .executeTakeFirst();
  // The subscription was removed, the person left, or the message was deleted: nothing to send.
  if (!row || row.notification_level === 'none') return;
  if ((await whoIsHere(entry.tablo)).includes(row.user_id)) return; // reading it now
  const payload = {
    tablo: { id: entry.tablo, title: row.title },
    author: row.author,
    snippet: snippetOf(row.body),
    url: `/tablos/${entry.tablo}/discussion?at=${row.seq}`,
    // The page's own notification for the same message carries the same tag: one replaces the other.
    tag: `tablo-${entry.tablo}-${row.seq}`,
    unread: await unreadTotal(db, row.user_id),
  };
  if ((await sendPush(vapid, row, JSON.stringify(payload))) === 'gone') await removeSubscription(db, row.id);
}

function snippetOf(body: string): string {
  const text = body.replace(/\s+/g, ' ').trim();
  const characters = [...text];
  return characters.length > SNIPPET_CHARACTERS ? `${characters.slice(0, SNIPPET_CHARACTERS - 1).join('')}…` : text;
}
