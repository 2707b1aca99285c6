import { z } from 'zod';
import type { Database } from '../db/database.ts';
import type { NotificationLevel } from '../db/schema.ts';

export const notificationLevel = z.enum(['all', 'mentions', 'none']);

/** The order the bell cycles through. */
export function nextLevel(level: NotificationLevel): NotificationLevel {
  return level === 'all' ? 'mentions' : level === 'mentions' ? 'none' : 'all';
}

/** A member chooses which messages of a tablo notify them. */
export async function setNotificationLevel(db: Database, tabloId: number, userId: number, level: NotificationLevel): Promise<void> {
  await db.updateTable('tablo_members').set({ notification_level: level }).where('tablo_id', '=', tabloId).where('user_id', '=', userId).execute();
}

