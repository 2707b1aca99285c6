import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import { readBody } from './markdown.ts';
import type { MentionEnv, MentionMade } from './mention-rule.ts';

/** A person who can be mentioned in a tablo: one of its members. */
export type Mentionable = { id: number; handle: string };

/** Who a body mentions. `mentions` has each member once, with the handle as typed (lower-cased). */
export type Mentions = { userIds: number[]; all: boolean; mentions: { userId: number; handle: string }[] };

/**
 * Who a message body mentions among these members: `@handle` of a member (whatever the case),
 * and `@all` for everyone. Read as the body renders — so not inside code spans, code blocks or
 * links, not inside a word or an address (`bob@example.com`), and a handle ends at punctuation
 * (`@ada,` `(@ada)` `_@ada_`). A handle that is no member's is plain text.
 */
export function mentionsIn(body: string, members: readonly Mentionable[]): Mentions {
  return mentionsFound(body, { handles: new Map(members.map((m) => [m.handle.toLowerCase(), m.id])), all: true });
}

/** Every lower-cased handle a body may mention (what to look up among the members); `all` included. */
export function handlesIn(body: string): string[] {
  if (!body.includes('@')) return [];
  const env: MentionEnv = { candidates: new Set() };
  readBody(body, env);
  return [...env.candidates!];
}

function mentionsFound(body: string, known: MentionEnv): Mentions {
  const env: MentionEnv = { ...known, made: [] };
  if (body.includes('@')) readBody(body, env);
  const byUser = new Map<number, { userId: number; handle: string }>();
  let all = false;
  for (const made of env.made as MentionMade[]) {
    if (made.userId === 'all') all = true;
    else if (!byUser.has(made.userId)) byUser.set(made.userId, { userId: made.userId, handle: made.handle });
  }
  return { userIds: [...byUser.keys()], all, mentions: [...byUser.values()] };
}

/**
 * Who a body posted (or edited) in a tablo mentions, among its members now. Looks up only the
 * handles the body could mean, and nothing when it has no `@`.
 */
export async function findMentions(db: Database, tabloId: number, body: string): Promise<Mentions> {
  const handles = handlesIn(body).filter((h) => h !== 'all');
  const members = handles.length
    ? (
        await sql<Mentionable>`
          SELECT u.id, u.handle FROM tablo_members m JOIN users u ON u.id = m.user_id
          WHERE m.tablo_id = ${tabloId} AND lower(u.handle) = ANY(${handles}::text[])`.execute(db)
      ).rows
    : [];
  return mentionsIn(body, members);
}

/** What the fragment needs to show a message's mentions: as stored with it when it was (last) written. */
export function mentionEnvOf(message: { mentions: { userId: number; handle: string }[]; mentionsAll: boolean }): MentionEnv {
  return { handles: new Map(message.mentions.map((m) => [m.handle, m.userId])), all: message.mentionsAll };
}
