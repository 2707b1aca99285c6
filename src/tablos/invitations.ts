import { emailAddress, findUserByEmail } from '../accounts/users.ts';
import type { Database } from '../db/database.ts';
import type { Live } from '../live/live.ts';

export type PendingInvitation = { id: number; email: string; createdAt: Date };
export type ReceivedInvitation = { id: number; tabloId: number; tabloTitle: string; invitedBy: string; createdAt: Date };

/**
 * The owner invites someone by email. Nobody becomes a member without accepting; the answer is
 * the same whether or not an account has that email (an email that registers later finds the
 * invitation waiting). Refused, with a reason, only for a malformed email, a current member, or
 * an email already invited.
 */
export async function inviteByEmail(
  db: Database,
  live: Live,
  invitation: { tabloId: number; invitedBy: number; email: string },
): Promise<{ invitationId: number } | { error: string }> {
  const parsed = emailAddress.safeParse(invitation.email);
  if (!parsed.success) return { error: parsed.error.issues[0]?.message ?? 'Enter a valid email address.' };
  const email = parsed.data.toLowerCase();
  const { tabloId, invitedBy } = invitation;

  // Stored emails are normalized, like this one.
  const member = await db
    .selectFrom('tablo_members as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select('u.id')
    .where('m.tablo_id', '=', tabloId)
    .where('u.email', '=', email)
    .executeTakeFirst();
  if (member) return { error: 'That person is already a member.' };
  const created = await db
    .insertInto('invitations')
    .values({ tablo_id: tabloId, email, invited_by: invitedBy })
    .onConflict((oc) => oc.columns(['tablo_id', 'email']).doNothing())
    .returning('id')
    .executeTakeFirst();
  if (!created) return { error: 'That email is already invited.' };

  const invitee = await findUserByEmail(db, email);
  live.invitationsChanged(tabloId, invitee ? [invitee.id, invitedBy] : [invitedBy]);
  return { invitationId: created.id };
}

/** The invited person accepts: a member now, the invitation gone. Answers the tablo, or undefined when it is not theirs. */
export async function acceptInvitation(db: Database, live: Live, invitationId: number, userId: number): Promise<number | undefined> {
  const tabloId = await db.transaction().execute(async (trx) => {
    const accepted = await trx
      .deleteFrom('invitations as i')
      .using('users as me')
      .whereRef('me.email', '=', 'i.email')
      .where('me.id', '=', userId)
      .where('i.id', '=', invitationId)
      .returning('i.tablo_id')
      .executeTakeFirst();
    if (!accepted) return undefined;
    await trx
      .insertInto('tablo_members')
      .values({ tablo_id: accepted.tablo_id, user_id: userId, role: 'member' })
      .onConflict((oc) => oc.doNothing())
      .execute();
    return accepted.tablo_id;
  });
  // Everyone in the tablo, the new member and the owner's list of pending invitations.
  if (tabloId !== undefined) live.tabloChanged(tabloId, 'members');
  return tabloId;
}

/** The invited person says no: the invitation is gone. Answers whether it was theirs to decline. */
export async function declineInvitation(db: Database, live: Live, invitationId: number, userId: number): Promise<boolean> {
  const declined = await db
    .deleteFrom('invitations as i')
    .using('users as me')
    .whereRef('me.email', '=', 'i.email')
    .where('me.id', '=', userId)
    .where('i.id', '=', invitationId)
    .returning(['i.tablo_id', 'i.invited_by'])
    .executeTakeFirst();
  if (!declined) return false;
  live.invitationsChanged(declined.tablo_id, [userId, declined.invited_by]);
  return true;
}

/** The owner takes an invitation back. Answers whether this tablo had it. */
export async function cancelInvitation(db: Database, live: Live, tabloId: number, invitationId: number, cancelledBy: number): Promise<boolean> {
  const cancelled = await db
    .deleteFrom('invitations')
    .where('id', '=', invitationId)
    .where('tablo_id', '=', tabloId)
    .returning(['email', 'invited_by'])
    .executeTakeFirst();
  if (!cancelled) return false;
  const invitee = await findUserByEmail(db, cancelled.email);
  const tell = [cancelledBy, cancelled.invited_by, ...(invitee ? [invitee.id] : [])];
  live.invitationsChanged(tabloId, tell);
  return true;
}

/** A tablo's pending invitations, oldest first (for its owner). */
export async function pendingInvitations(db: Database, tabloId: number): Promise<PendingInvitation[]> {
  const rows = await db
    .selectFrom('invitations')
    .select(['id', 'email', 'created_at'])
    .where('tablo_id', '=', tabloId)
    .orderBy('created_at')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ id: r.id, email: r.email, createdAt: r.created_at }));
}

/** The invitations waiting for a person (to their account's email), newest first. */
export async function invitationsFor(db: Database, userId: number): Promise<ReceivedInvitation[]> {
  const rows = await db
    .selectFrom('invitations as i')
    .innerJoin('users as me', 'me.email', 'i.email')
    .innerJoin('tablos as t', 't.id', 'i.tablo_id')
    .innerJoin('users as inviter', 'inviter.id', 'i.invited_by')
    .select(['i.id', 'i.tablo_id', 't.title', 'inviter.name as inviter_name', 'i.created_at'])
    .where('me.id', '=', userId)
    .orderBy('i.created_at', 'desc')
    .orderBy('i.id', 'desc')
    .execute();
  return rows.map((r) => ({ id: r.id, tabloId: r.tablo_id, tabloTitle: r.title, invitedBy: r.inviter_name, createdAt: r.created_at }));
}
