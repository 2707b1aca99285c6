import Bowser from 'bowser';
import { sql } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/database.ts';
import { sessionKey } from '../live/live.ts';

/**
 * A person's signed-in sessions: the rows of `sessions` whose data names them. Session ids never
 * leave the server: a page names a session by its key, a hash of the id.
 */
export type SignedInSession = {
  key: string;
  current: boolean;
  startedAt: Date | undefined;
  browser: string;
  address: string;
};

const storedSession = z.object({
  createdAt: z.iso.datetime().optional().catch(undefined),
  userAgent: z.string().optional().catch(undefined),
  ip: z.string().optional().catch(undefined),
});

/** The person's sessions that have not expired: this one first, then the newest. */
export async function sessionsOf(db: Database, userId: number, currentSessionId: string): Promise<SignedInSession[]> {
  const rows = await ofPerson(db, userId).select(['sid', 'sess']).where('expire', '>', sql<Date>`now()`).execute();
  const sessions = rows.map((row): SignedInSession => {
    const data = storedSession.parse(row.sess);
    return {
      key: sessionKey(row.sid),
      current: row.sid === currentSessionId,
      startedAt: data.createdAt ? new Date(data.createdAt) : undefined,
      browser: describeBrowser(data.userAgent),
      address: (data.ip ?? '').replace(/^::ffff:/, '') || 'unknown',
    };
  });
  return sessions.sort((a, b) => Number(b.current) - Number(a.current) || (b.startedAt?.getTime() ?? 0) - (a.startedAt?.getTime() ?? 0));
}

/** Deletes the person's sessions (all but one, or the one with a key); answers the ids it ended. */
export async function deleteSessions(
  db: Pick<Database, 'selectFrom' | 'deleteFrom'>,
  userId: number,
  which: { allBut: string } | { key: string },
): Promise<string[]> {
  if ('allBut' in which) {
    const deleted = await db
      .deleteFrom('sessions')
      .where(sql<string>`sess ->> 'userId'`, '=', String(userId))
      .where('sid', '!=', which.allBut)
      .returning('sid')
      .execute();
    return deleted.map((row) => row.sid);
  }
  const sids = await ofPerson(db, userId).select('sid').execute();
  const sid = sids.find((row) => sessionKey(row.sid) === which.key)?.sid;
  if (!sid) return [];
  await db.deleteFrom('sessions').where('sid', '=', sid).execute();
  return [sid];
}

function ofPerson(db: Pick<Database, 'selectFrom'>, userId: number) {
  return db.selectFrom('sessions').where(sql<string>`sess ->> 'userId'`, '=', String(userId));
}

/** "Firefox 128 on Linux", from a user agent; something short whatever it is. */
export function describeBrowser(userAgent: string | undefined): string {
  if (!userAgent) return 'Unknown browser';
  const { browser, os } = Bowser.parse(userAgent);
  if (!browser.name) return userAgent.length > 40 ? `${userAgent.slice(0, 40)}…` : userAgent;
  const version = browser.version?.split('.')[0];
  const name = version ? `${browser.name} ${version}` : browser.name;
  return os.name ? `${name} on ${os.name}` : name;
}
