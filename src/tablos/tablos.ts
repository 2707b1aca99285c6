import { sql, type Transaction } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/database.ts';
import type { MemberRole, Tables } from '../db/schema.ts';
import type { Live } from '../live/live.ts';
import { isOneLineText } from '../web/text.ts';

export const tabloTitle = z.object({
  title: z
    .string()
    .trim()
    .min(1, 'Give your tablo a title.')
    .max(120, 'Keep the title to 120 characters.')
    .refine(isOneLineText, 'Use only printable characters in the title.'),
});

export type TabloSummary = {
  id: number;
  title: string;
  role: MemberRole;
  unread: number;
  /** Unread messages by others that mention this person (by handle or `@all`). */
  mentions: number;
  lastActivityAt: Date;
  latest: { authorName: string; snippet: string } | undefined;
};

const SNIPPET_CHARACTERS = 120;

// The domain verbs: each runs its transaction, then announces what changed to the open pages.

/** Creates a tablo with its owner as its first member. */
export async function createTablo(db: Database, live: Live, ownerId: number, title: string): Promise<number> {
  const id = await db.transaction().execute(async (trx) => {
    const { id } = await trx
      .insertInto('tablos')
      .values({ title, owner_id: ownerId })
      .returning('id')
      .executeTakeFirstOrThrow();
    await trx.insertInto('tablo_members').values({ tablo_id: id, user_id: ownerId, role: 'owner' }).execute();
    return id;
  });
  live.tabloChanged(id, 'members');
  return id;
}

export async function renameTablo(db: Database, live: Live, tabloId: number, title: string): Promise<void> {
  await db.updateTable('tablos').set({ title }).where('id', '=', tabloId).execute();
  live.tabloChanged(tabloId, 'renamed');
}

/** Deletes a tablo with its members and messages; every open discussion of it ends. */
export async function deleteTablo(live: Live, tabloId: number): Promise<void> {
  const members = await live.revokeWith({ tabloId }, 'access-ended', async (trx) => {
    const members = await memberIds(trx, tabloId);
    await trx.deleteFrom('tablos').where('id', '=', tabloId).execute();
    return members;
  });
  live.tabloChanged(tabloId, 'deleted', members);
}

/**
 * A member (never the owner) leaves or is removed: their open discussion of this tablo ends, and
 * they learn that it did. Answers whether someone was a member.
 */
export async function removeMember(live: Live, tabloId: number, userId: number): Promise<boolean> {
  const removed = await live.revokeWith({ userId, tabloId }, 'access-ended', async (trx) => {
    const result = await trx
      .deleteFrom('tablo_members')
      .where('tablo_id', '=', tabloId)
      .where('user_id', '=', userId)
      .where('role', '=', 'member')
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  });
  if (removed) live.tabloChanged(tabloId, 'members', [userId]);
  return removed;
}

/** A member leaves: as a removal, asked for by themselves. The owner cannot leave. */
export const leaveTablo = removeMember;

/**
 * The tablos a person owns or belongs to, most recently active first, each with its unread count
 * (messages by others after this member's last-read position, deleted ones left out: a
 * message's seq is that of its creation, so an edit or a reaction does not make it unread again) and its latest message.
 */
export async function listTablosOf(db: Database, userId: number): Promise<TabloSummary[]> {
  const rows = await db
    .selectFrom('tablo_members as m')
    .innerJoin('tablos as t', 't.id', 'm.tablo_id')
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('messages as latest')
          .innerJoin('users as author', 'author.id', 'latest.author_id')
          .select(['author.name as author_name', sql<string>`left(latest.body, ${SNIPPET_CHARACTERS})`.as('snippet')])
          .whereRef('latest.tablo_id', '=', 't.id')
          .where('latest.deleted_at', 'is', null)
          .orderBy('latest.seq', 'desc')
          .limit(1)
          .as('latest'),
      (join) => join.onTrue(),
    )
    .select(['t.id', 't.title', 'm.role', 't.last_activity_at', 'latest.author_name', 'latest.snippet'])
    // Unread and mentions in one pass over what this member has not read.
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('messages as msg')
          .select([sql<number>`count(*)`.as('unread'), sql<number>`count(*) FILTER (WHERE ${mentioning(userId)})`.as('mentions')])
          .whereRef('msg.tablo_id', '=', 't.id')
          .whereRef('msg.seq', '>', 'm.last_read_seq')
          .where('msg.author_id', '!=', userId)
          .where('msg.deleted_at', 'is', null)
          .as('counts'),
      (join) => join.onTrue(),
    )
    .select(['counts.unread', 'counts.mentions'])
    .where('m.user_id', '=', userId)
    .orderBy('t.last_activity_at', 'desc')
    .orderBy('t.id', 'desc')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    title: r.title,
    role: r.role,
    unread: Number(r.unread ?? 0),
    mentions: Number(r.mentions ?? 0),
    lastActivityAt: r.last_activity_at,
    latest: r.author_name && r.snippet !== null ? { authorName: r.author_name, snippet: r.snippet } : undefined,
  }));
}

/** Everything unread across a person's tablos: the number in the browser tab's title. */
export async function unreadTotal(db: Database, userId: number): Promise<number> {
  const row = await db
    .selectFrom('tablo_members as m')
    .innerJoin('messages as msg', (join) =>
      join.onRef('msg.tablo_id', '=', 'm.tablo_id').onRef('msg.seq', '>', 'm.last_read_seq'),
    )
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('m.user_id', '=', userId)
    .where('msg.author_id', '!=', userId)
    .where('msg.deleted_at', 'is', null)
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * What the browser tab's title counts across a person's tablos: unread messages, and those of
 * them that mention the person.
 */
export async function titleCounts(db: Database, userId: number): Promise<{ unreadTotal: number; mentionTotal: number }> {
  const row = await db
    .selectFrom('tablo_members as m')
    .innerJoin('messages as msg', (join) =>
      join.onRef('msg.tablo_id', '=', 'm.tablo_id').onRef('msg.seq', '>', 'm.last_read_seq'),
    )
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.countAll<number>().filterWhere(mentioning(userId)).as('mentions')])
    .where('m.user_id', '=', userId)
    .where('msg.author_id', '!=', userId)
    .where('msg.deleted_at', 'is', null)
    .executeTakeFirst();
  return { unreadTotal: Number(row?.n ?? 0), mentionTotal: Number(row?.mentions ?? 0) };
}

/** A message (as `msg`) mentions this person: by their handle, or everyone. */
function mentioning(userId: number) {
  return sql<boolean>`(msg.mentions_all OR EXISTS (SELECT 1 FROM mentions mn WHERE mn.message_id = msg.id AND mn.user_id = ${userId}))`;
}

export async function listMembers(db: Database, tabloId: number) {
  return db
    .selectFrom('tablo_members as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['u.id', 'u.name', 'u.handle', 'u.email', 'u.bot', 'm.role'])
    .where('m.tablo_id', '=', tabloId)
    .orderBy('m.role', 'desc') // 'owner' before 'member'
    .orderBy('u.name')
    .execute();
}

export async function memberIds(db: Pick<Database, 'selectFrom'>, tabloId: number): Promise<number[]> {
  const rows = await db.selectFrom('tablo_members').select('user_id').where('tablo_id', '=', tabloId).execute();
  return rows.map((r) => r.user_id);
}
