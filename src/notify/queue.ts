import { type RawBuilder, sql } from 'kysely';

/**
 * A CTE for the statement that stores messages (after a CTE `inserted` with id, tablo_id and
 * author_id): one `push` outbox entry for each new message, in the same statement, so it commits (or not)
 * with the message. Only when another member could get a push at all (a subscription, a level
 * other than none): a tablo where nobody has one pays an index look-up, not an outbox row.
 */
export function queuePushSql(): RawBuilder<unknown> {
  return sql`, queued AS (
    INSERT INTO outbox (kind, payload)
    SELECT 'push', jsonb_build_object('tablo', i.tablo_id, 'message', i.id)
    FROM inserted i
    WHERE EXISTS (
      SELECT 1 FROM tablo_members m JOIN push_subscriptions s ON s.user_id = m.user_id
      WHERE m.tablo_id = i.tablo_id AND m.user_id <> i.author_id AND m.notification_level <> 'none'))`;
}
