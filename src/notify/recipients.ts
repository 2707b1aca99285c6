import type { Database } from '../db/database.ts';
import type { NotificationLevel } from '../db/schema.ts';

export type Member = { userId: number; handle: string };

/**
 * `@handle` not glued to a word before it (so `bob@example.com` mentions nobody). A handle is
 * 1–30 of `A–Z a–z 0–9 _ -`; punctuation after it (`@ada,` `(@ada)` `@ada.`) ends it.
 */
const MENTION = /(?<![A-Za-z0-9_-])@([A-Za-z0-9_-]{1,30})/g;

/**
 * The members a body mentions: `@handle` of a member (whatever the case), or everyone for `@all`.
 * A handle of nobody here is plain text. The one place that decides it (mentions are rendered,
 * counted and notified by it).
 */
export function mentionedIn(body: string, members: readonly Member[]): Set<number> {
  const byHandle = new Map(members.map((m) => [m.handle.toLowerCase(), m.userId]));
  const mentioned = new Set<number>();
  for (const [, handle = ''] of body.matchAll(MENTION)) {
    const key = handle.toLowerCase();
    if (key === 'all') return new Set(members.map((m) => m.userId));
    // A dash or underscore right after a handle is more likely punctuation (`@ada-`) than part of it.
    const id = byHandle.get(key) ?? byHandle.get(key.replace(/[-_]+$/, ''));
    if (id !== undefined) mentioned.add(id);
  }
  return mentioned;
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
