import type { Database } from '../db/database.ts';
import type { NotificationLevel } from '../db/schema.ts';
import { mentionsIn } from '../discussion/mentions.ts';

export type Member = { userId: number; handle: string };

/**
 * The members a body mentions, for notifying them: everyone for `@all`. Who a body mentions is
 * decided in one place, src/discussion/mentions.ts (the same reading renders and counts them).
 */
export function mentionedIn(body: string, members: readonly Member[]): Set<number> {
  const found = mentionsIn(body, members.map((m) => ({ id: m.userId, handle: m.handle })));
  return new Set(found.all ? members.map((m) => m.userId) : found.userIds);
}

/**
 * Who a new message notifies, by level: every member but its author whose level is `all`, or
 * `mentions` and the message mentions them (or @all). Presence is not judged here.
 */
export async function notifiedMembers(db: Database, message: { tabloId: number; authorId: number; body: string }): Promise<number[]> {
  const members = await db
    .selectFrom('tablo_members as m')
    .innerJoin('users as u', 'u.id', 'm.user_id')
    .select(['m.user_id as userId', 'u.handle', 'm.notification_level as level'])
    .where('m.tablo_id', '=', message.tabloId)
    .execute();
  const mentioned = mentionedIn(message.body, members);
  return members.filter((m) => m.userId !== message.authorId && wants(m.level, mentioned.has(m.userId))).map((m) => m.userId);
}

function wants(level: NotificationLevel, mentioned: boolean): boolean {
  return level === 'all' || (level === 'mentions' && mentioned);
}
