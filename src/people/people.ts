import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { renderMessage } from '../discussion/fragment.ts';
import { latestMessagesBy } from '../discussion/messages.ts';

export type Person = { id: number; name: string; handle: string; initials: string; hue: number };
export type PersonListed = Person & { messageCount: number };

const HUES = 12;
const LATEST_SHOWN = 20;

/** An initials avatar whose colour (one of 12 hues) follows from the person's id, so it never changes. */
export function avatarOf(person: { id: number; name: string }): { initials: string; hue: number } {
  const words = person.name.trim().split(/\s+/).filter(Boolean);
  const initials = words.slice(0, 2).map((w) => [...w][0]!.toUpperCase()).join('') || '?';
  // Knuth's multiplicative hash spreads consecutive ids over the hues.
  const hue = Math.imul(person.id, 2654435761) >>> 0;
  return { initials, hue: (hue >>> 16) % HUES };
}

/**
 * The people who share at least one tablo with this person (themselves left out), by name, each
 * with the number of their messages in the tablos they share (deleted ones left out).
 */
export async function peopleOf(db: Database, userId: number): Promise<PersonListed[]> {
  const { rows } = await sql<{ id: number; name: string; handle: string; messages: string }>`
    WITH mine AS (SELECT tablo_id FROM tablo_members WHERE user_id = ${userId}),
    shared AS (
      SELECT m.user_id, array_agg(m.tablo_id) AS tablos
      FROM tablo_members m JOIN mine USING (tablo_id)
      WHERE m.user_id <> ${userId}
      GROUP BY m.user_id
    )
    SELECT u.id, u.name, u.handle,
      (SELECT count(*) FROM messages msg
       WHERE msg.author_id = u.id AND msg.tablo_id = ANY(shared.tablos) AND msg.deleted_at IS NULL) AS messages
    FROM shared JOIN users u ON u.id = shared.user_id
    ORDER BY lower(u.name), u.id`.execute(db);
  return rows.map((r) => ({ id: r.id, name: r.name, handle: r.handle, ...avatarOf(r), messageCount: Number(r.messages) }));
}

export type Profile = Person & {
  tablos: { id: number; title: string }[];
  messageCount: number;
  /** Their latest messages in the tablos shared, rendered (the fragment everyone sees). */
  latest: { tabloId: number; tabloTitle: string; html: string }[];
};

/** Someone as this viewer may see them: only when they share a tablo; undefined otherwise. */
export async function profileFor(db: Database, viewerId: number, personId: number): Promise<Profile | undefined> {
  const person = await db.selectFrom('users').select(['id', 'name', 'handle']).where('id', '=', personId).executeTakeFirst();
  if (!person) return undefined;
  const tablos = await db
    .selectFrom('tablo_members as theirs')
    .innerJoin('tablo_members as mine', (join) => join.onRef('mine.tablo_id', '=', 'theirs.tablo_id').on('mine.user_id', '=', viewerId))
    .innerJoin('tablos as t', 't.id', 'theirs.tablo_id')
    .select(['t.id', 't.title'])
    .where('theirs.user_id', '=', personId)
    .orderBy('t.title')
    .orderBy('t.id')
    .execute();
  if (tablos.length === 0) return undefined;
  const ids = tablos.map((t) => t.id);
  const [latest, counted] = await Promise.all([
    latestMessagesBy(db, personId, ids, LATEST_SHOWN),
    db
      .selectFrom('messages')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('author_id', '=', personId)
      .where('tablo_id', 'in', ids)
      .where('deleted_at', 'is', null)
      .executeTakeFirstOrThrow(),
  ]);
  const titles = new Map(tablos.map((t) => [t.id, t.title]));
  return {
    ...person,
    ...avatarOf(person),
    tablos,
    messageCount: Number(counted.n),
    latest: latest.map((m) => ({ tabloId: m.tabloId, tabloTitle: titles.get(m.tabloId) ?? '', html: renderMessage(m) })),
  };
}
