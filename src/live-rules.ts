import { sql } from 'kysely';
import type { Database } from './db/database.ts';
import { renderMessage } from './discussion/fragment.ts';
import { changeJson } from './discussion/message-json.ts';
import { eventsAt } from './discussion/messages.ts';
import type { StreamOwner } from './live/broker.ts';
import type { LiveRules } from './live/fanout.ts';
import { liveTokenKeys } from './accounts/tokens.ts';
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

    async loadChanges(wanted) {
      // Each event's own seq, with its message's current state (it may show a later change too).
      const found = await eventsAt(db, wanted);
      return wanted.map(({ tabloId, seq, messageId }, i) => {
        const event = found[i];
        if (!event || event.message.id !== messageId) return undefined;
        return { tabloId, seq, html: renderMessage(event.message), json: changeJson(seq, event.kind, event.message) };
      });
    },

    async newestSeqs(tabloIds) {
      const rows = await db.selectFrom('tablos').select(['id', 'last_seq']).where('id', 'in', tabloIds).execute();
      return new Map(rows.map((r) => [r.id, r.last_seq]));
    },

    async revoked(owners) {
      const sessionIds = [...new Set(owners.flatMap((o) => (o.sessionId === undefined ? [] : [o.sessionId])))];
      const { rows: live } = await sql<{ sid: string }>`
        SELECT sid FROM sessions WHERE sid = ANY(${sessionIds}::text[]) AND expire > now()`.execute(db);
      // A program's stream holds a token: a revoked token is like an ended session.
      const tokenKeys = [...new Set(owners.flatMap((o) => (o.tokenKey === undefined ? [] : [o.tokenKey])))];
      const validTokens = new Set(await liveTokenKeys(db, tokenKeys));
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
        const holds = owner.tokenKey === undefined ? signedIn.has(owner.sessionId) : validTokens.has(owner.tokenKey);
        if (!holds) revoked.set(owner, 'signed-out');
        else if (owner.tabloId !== undefined && !isMember.has(`${owner.tabloId}:${owner.userId}`)) revoked.set(owner, 'access-ended');
      }
      return revoked;
    },
  };
}
