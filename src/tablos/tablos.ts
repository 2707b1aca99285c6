import type { Database } from '../db/database.ts';
import type { MemberRole } from '../db/schema.ts';

export type TabloSummary = {
  id: number;
  title: string;
  role: MemberRole;
  unread: number;
  lastActivityAt: Date;
};

/** Creates a tablo with its owner as its first member. */
export async function createTablo(db: Database, ownerId: number, title: string): Promise<number> {
  return db.transaction().execute(async (trx) => {
    const { id } = await trx
      .insertInto('tablos')
      .values({ title, owner_id: ownerId })
      .returning('id')
      .executeTakeFirstOrThrow();
    await trx.insertInto('tablo_members').values({ tablo_id: id, user_id: ownerId, role: 'owner' }).execute();
    return id;
  });
}

/** The tablos a person owns or belongs to, most recently active first. */
export async function listTablosOf(db: Database, userId: number): Promise<TabloSummary[]> {
  const rows = await db
    .selectFrom('tablo_members as m')
    .innerJoin('tablos as t', 't.id', 'm.tablo_id')
    .select(['t.id', 't.title', 'm.role', 't.last_activity_at'])
    // Unread: messages by others after this member's last-read position.
    .select((eb) =>
      eb
        .selectFrom('messages as msg')
        .select(eb.fn.countAll<number>().as('n'))
        .whereRef('msg.tablo_id', '=', 't.id')
        .whereRef('msg.seq', '>', 'm.last_read_seq')
        .where('msg.author_id', '!=', userId)
        .as('unread'),
    )
    .where('m.user_id', '=', userId)
    .orderBy('t.last_activity_at', 'desc')
    .orderBy('t.id', 'desc')
    .execute();
  return rows.map((r) => ({ id: r.id, title: r.title, role: r.role, unread: Number(r.unread ?? 0), lastActivityAt: r.last_activity_at }));
}

export async function listMembers(db: Database, tabloId: number) {
  return db
    .selectFrom('tablo_members as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['u.id', 'u.name', 'u.email', 'm.role'])
    .where('m.tablo_id', '=', tabloId)
    .orderBy('m.role', 'desc') // 'owner' before 'member'
    .orderBy('u.name')
    .execute();
}
