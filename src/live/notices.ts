import { type RawBuilder, sql } from 'kysely';
import { z } from 'zod';

/**
 * The Postgres bus's wire format, in one place: what crosses instances on the NOTIFY channel.
 * Identifiers only, never content (NOTIFY payloads are limited to 8,000 bytes, and content is read
 * from the table by each instance); a session is named by its key (a hash), never its id.
 */
export const CHANNEL = 'tablo_events';

const id = z.number().int().positive();
const scope = z.union([
  z.object({ sessionKey: z.string().min(1).max(64) }),
  z.object({ tokenKey: z.string().min(1).max(64) }),
  z.object({ userId: id, tabloId: id.optional() }),
  z.object({ tabloId: id }),
]);
const notice = z.discriminatedUnion('k', [
  /** A change to a tablo's log (its seq), about message `id`. Sent by the storing statement itself. */
  z.object({ k: z.literal('event'), from: z.string(), tablo: id, seq: id, id }),
  z.object({ k: z.literal('tablo'), from: z.string(), tablo: id, change: z.enum(['members', 'renamed', 'deleted']), tell: z.array(id) }),
  z.object({ k: z.literal('invitations'), from: z.string(), tablo: id, people: z.array(id) }),
  z.object({
    k: z.literal('close'),
    from: z.string(),
    scope,
    reason: z.enum(['client', 'signed-out', 'session-renewed', 'access-ended', 'shutdown', 'slow-reader', 'error']),
  }),
  z.object({ k: z.literal('presence'), from: z.string(), tablo: id }),
  z.object({ k: z.literal('read'), from: z.string(), read: z.array(z.tuple([id, id])) }),
]);

export type Notice = z.infer<typeof notice>;

/** Keeps every payload far below NOTIFY's 8,000 bytes. */
export const MAX_IDS_PER_NOTICE = 400;

export function encodeNotice(value: Notice): string {
  return JSON.stringify(value);
}

/** A payload heard on the channel, or undefined when it is not one of ours. */
export function decodeNotice(payload: string): Notice | undefined {
  try {
    const parsed = notice.safeParse(JSON.parse(payload));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** A NOTIFY statement for a notice, to run inside a transaction (delivered on commit, in order). */
export function notifySql(value: Notice): RawBuilder<unknown> {
  return sql`SELECT pg_notify(${CHANNEL}, ${encodeNotice(value)})`;
}

/**
 * The `event` notice for every row of a CTE named `inserted` (with id, tablo_id and seq), as a
 * further CTE of the statement that stores them: `, notified AS (…)`. Sent by that statement, so
 * it is delivered on commit, in commit order.
 */
export function notifyInsertedSql(from: string): RawBuilder<unknown> {
  return sql`, notified AS (
    SELECT pg_notify(${CHANNEL}, json_build_object(
      'k', 'event', 'from', ${from}::text, 'tablo', tablo_id, 'seq', seq, 'id', id)::text)
    FROM inserted)`;
}
