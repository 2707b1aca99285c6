import { randomBytes } from 'node:crypto';
import type { Database } from '../db/database.ts';
import type { Live } from '../live/live.ts';

/** 192 random bits, written base64url (32 characters): not guessable, safe in a URL. */
const TOKEN_BYTES = 24;
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{16,128}$/;

export const joinPath = (token: string) => `/join/${token}`;

/**
 * The owner makes the tablo's join link, replacing any earlier one (which stops working). The
 * token is stored as is: the owner's tablo page shows the link again for as long as it works.
 */
export async function makeJoinLink(db: Database, live: Live, tabloId: number, ownerId: number): Promise<string> {
  const token = randomBytes(TOKEN_BYTES).toString('base64url');
  await db
    .insertInto('join_links')
    .values({ tablo_id: tabloId, token, created_by: ownerId })
    .onConflict((oc) => oc.column('tablo_id').doUpdateSet({ token, created_by: ownerId, created_at: new Date() }))
    .execute();
  live.invitationsChanged(tabloId, [ownerId]); // the owner's other tabs show the new link
  return token;
}

/** The owner turns the join link off. */
export async function revokeJoinLink(db: Database, live: Live, tabloId: number, ownerId: number): Promise<void> {
  await db.deleteFrom('join_links').where('tablo_id', '=', tabloId).execute();
  live.invitationsChanged(tabloId, [ownerId]);
}

/** The tablo's working join token, if it has one. */
export async function joinTokenOf(db: Database, tabloId: number): Promise<string | undefined> {
  const row = await db.selectFrom('join_links').select('token').where('tablo_id', '=', tabloId).executeTakeFirst();
  return row?.token;
}

/** The tablo a working join link leads to; undefined for an unknown, replaced or revoked token. */
export async function tabloOfJoinLink(db: Database, token: string): Promise<{ id: number; title: string } | undefined> {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  return db
    .selectFrom('join_links as l')
    .innerJoin('tablos as t', 't.id', 'l.tablo_id')
    .select(['t.id', 't.title'])
    .where('l.token', '=', token)
    .executeTakeFirst();
}

/**
 * Someone with the link joins: a member (already being one is fine), and any invitation of theirs
 * to this tablo is settled. Answers the tablo, or undefined when the link does not work.
 */
export async function joinByLink(db: Database, live: Live, token: string, userId: number): Promise<number | undefined> {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  const joined = await db.transaction().execute(async (trx) => {
    const link = await trx.selectFrom('join_links').select('tablo_id').where('token', '=', token).forShare().executeTakeFirst();
    if (!link) return undefined;
    const added = await trx
      .insertInto('tablo_members')
      .values({ tablo_id: link.tablo_id, user_id: userId, role: 'member' })
      .onConflict((oc) => oc.doNothing())
      .returning('user_id')
      .executeTakeFirst();
    await trx
      .deleteFrom('invitations as i')
      .using('users as me')
      .whereRef('me.email', '=', 'i.email')
      .where('me.id', '=', userId)
      .where('i.tablo_id', '=', link.tablo_id)
      .execute();
    return { tabloId: link.tablo_id, added: added !== undefined };
  });
  if (joined?.added) live.tabloChanged(joined.tabloId, 'members');
  return joined?.tabloId;
}
