import { sql } from 'kysely';
import type { Database } from './db/database.ts';
import { renderMessage } from './discussion/fragment.ts';
import { findMessage } from './discussion/messages.ts';
import type { StreamOwner } from './live/broker.ts';
import type { LiveRules } from './live/fanout.ts';
import { memberIds } from './tablos/tablos.ts';
import { renderPartial } from './web/views.ts';

const PRESENCE_SHOWN = 12;

/** What the realtime engine asks of the features (see LiveRules), answered from their tables and views. */
export function liveRules(db: Database): LiveRules {
  return {
    membersOf: (tabloId) => memberIds(db, tabloId),

    async renderPresence(userIds) {
      const people = userIds.length
        ? await db.selectFrom('users').select(['id', 'name']).where('id', 'in', userIds).orderBy('name').execute()
        : [];
      return renderPartial('presence', { shown: people.slice(0, PRESENCE_SHOWN), more: Math.max(0, people.length - PRESENCE_SHOWN) }).trim();
    },

    async loadChange({ tabloId, seq, messageId }) {
      // The event's own seq, with its message's current fragment (it may show a later change too).
      const message = await findMessage(db, messageId);
      return message && message.tabloId === tabloId ? { tabloId, seq, html: renderMessage(message) } : undefined;
    },

    async newestSeqs(tabloIds) {
      const rows = await db.selectFrom('tablos').select(['id', 'last_seq']).where('id', 'in', tabloIds).execute();
      return new Map(rows.map((r) => [r.id, r.last_seq]));
    },

    async revoked(owners) {
      const sessionIds = [...new Set(owners.map((o) => o.sessionId))];
      const { rows: live } = await sql<{ sid: string }>`
        SELECT sid FROM sessions WHERE sid = ANY(${sessionIds}::text[]) AND expire > now()`.execute(db);
      const signedIn = new Set(live.map((r) => r.sid));
      const memberships = owners.filter((o) => o.tabloId !== undefined);
      const { rows: members } = memberships.length
        ? await sql<{ tablo_id: number; user_id: number }>`
            SELECT m.tablo_id, m.user_id FROM tablo_members m
            JOIN unnest(${memberships.map((o) => o.tabloId)}::int[], ${memberships.map((o) => o.userId)}::int[]) AS o (tablo_id, user_id)
              ON m.tablo_id = o.tablo_id AND m.user_id = o.user_id`.execute(db)
        : { rows: [] };
      const isMember = new Set(members.map((m) => `${m.tablo_id}:${m.user_id}`));
      const revoked = new Map<StreamOwner, 'signed-out' | 'access-ended'>();
      for (const owner of owners) {
        if (!signedIn.has(owner.sessionId)) revoked.set(owner, 'signed-out');
        else if (owner.tabloId !== undefined && !isMember.has(`${owner.tabloId}:${owner.userId}`)) revoked.set(owner, 'access-ended');
      }
      return revoked;
    },
  };
}
