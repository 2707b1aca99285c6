import type { Database } from '../db/database.ts';
import type { Live } from '../live/live.ts';
import { hashPassword, verifyPassword } from './passwords.ts';
import { sessionKey } from '../live/live.ts';
import { deleteSessions } from './person-sessions.ts';
import { changeHandle, renamePerson } from './users.ts';

/** What the settings change outside the database: streams that end, member lists that re-read. */
export type SettingsEffects = Pick<Live, 'sessionEnded' | 'tabloChanged' | 'revokeWith'>;

/**
 * A new password, given the current one. Every other session of the person ends, and their open
 * streams close (`signed-out`) on every instance; the caller renews the session it came from.
 */
export async function changePassword(
  db: Database,
  effects: SettingsEffects,
  change: { userId: number; sessionId: string; currentPassword: string; newPassword: string },
): Promise<{ ok: true } | { ok: false; error: string }> {
  const user = await db.selectFrom('users').select('password_hash').where('id', '=', change.userId).executeTakeFirst();
  if (!user || !(await verifyPassword(user.password_hash, change.currentPassword))) {
    return { ok: false, error: 'That is not your current password.' };
  }
  const passwordHash = await hashPassword(change.newPassword);
  const ended = await db.transaction().execute(async (trx) => {
    await trx.updateTable('users').set({ password_hash: passwordHash }).where('id', '=', change.userId).execute();
    return deleteSessions(trx, change.userId, { allBut: change.sessionId });
  });
  closeStreamsOf(effects, ended);
  return { ok: true };
}

/** Ends every session of the person but this one; answers how many ended. */
export async function signOutOtherSessions(db: Database, effects: SettingsEffects, userId: number, sessionId: string): Promise<number> {
  const ended = await deleteSessions(db, userId, { allBut: sessionId });
  closeStreamsOf(effects, ended);
  return ended.length;
}

/**
 * Ends one other session of the person, named by its key; false when they have no such other
 * session (this one ends by signing out, which also clears its cookie).
 */
export async function signOutSession(
  db: Database,
  effects: SettingsEffects,
  userId: number,
  which: { key: string; currentSessionId: string },
): Promise<boolean> {
  if (which.key === sessionKey(which.currentSessionId)) return false;
  const ended = await deleteSessions(db, userId, { key: which.key });
  closeStreamsOf(effects, ended);
  return ended.length > 0;
}

/** A new display name; the member lists that show the person re-read it. */
export async function changeName(db: Database, effects: SettingsEffects, userId: number, name: string): Promise<void> {
  await renamePerson(db, userId, name);
  await announceMemberChange(db, effects, userId);
}

/** A new handle, unless someone has it (whatever the case): then false, and nothing changes. */
export async function changeOwnHandle(db: Database, effects: SettingsEffects, userId: number, handle: string): Promise<boolean> {
  if (!(await changeHandle(db, userId, handle))) return false;
  await announceMemberChange(db, effects, userId);
  return true;
}

function closeStreamsOf(effects: SettingsEffects, sessionIds: string[]): void {
  for (const sessionId of sessionIds) effects.sessionEnded(sessionId);
}

async function announceMemberChange(db: Database, effects: SettingsEffects, userId: number): Promise<void> {
  const tablos = await db.selectFrom('tablo_members').select('tablo_id').where('user_id', '=', userId).execute();
  for (const { tablo_id } of tablos) effects.tabloChanged(tablo_id, 'members');
}
