import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { renderMessage } from '../discussion/fragment.ts';
import { latestMessagesIn } from '../discussion/messages.ts';
import type { Live } from '../live/live.ts';
import { invitationsFor } from '../tablos/invitations.ts';
import { listTablosOf } from '../tablos/tablos.ts';

const LATEST_SHOWN = 8;

/**
 * The home view (/tablos): the invitations waiting for the person, their tablos with unread
 * counts and latest messages, the latest messages across all of them, and a few figures about their day.
 */
export async function homeView(db: Database, live: Live, userId: number) {
  const tablos = await listTablosOf(db, userId);
  const invitations = await invitationsFor(db, userId);
  const ids = tablos.map((t) => t.id);
  const [latest, today, online] = await Promise.all([
    latestMessagesIn(db, ids, LATEST_SHOWN),
    messagesToday(db, ids),
    onlineIn(live, ids, userId),
  ]);
  const titles = new Map(tablos.map((t) => [t.id, t.title]));
  return {
    invitations,
    tablos,
    unreadTotal: tablos.reduce((n, t) => n + t.unread, 0),
    mentionTotal: tablos.reduce((n, t) => n + t.mentions, 0),
    latest: latest.map((m) => ({ tabloId: m.tabloId, tabloTitle: titles.get(m.tabloId) ?? '', html: renderMessage(m) })),
    figures: { tablos: tablos.length, messagesToday: today, online },
  };
}

async function messagesToday(db: Database, tabloIds: number[]): Promise<number> {
  if (tabloIds.length === 0) return 0;
  const row = await db
    .selectFrom('messages')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('tablo_id', 'in', tabloIds)
    .where('deleted_at', 'is', null)
    .where('created_at', '>=', sql<Date>`date_trunc('day', now())`)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** Other people with one of these tablos' discussions open right now. */
async function onlineIn(live: Live, tabloIds: number[], userId: number): Promise<number> {
  const present = await Promise.all(tabloIds.map((id) => live.whoIsHere(id)));
  const people = new Set(present.flat());
  people.delete(userId);
  return people.size;
}
