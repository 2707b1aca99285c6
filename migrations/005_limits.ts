import { type Kysely, sql } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // Rate limits shared by every instance: per key (a person posting, an address signing in…),
  // the times of the hits still inside the window, oldest first, at most the limit of them.
  // UNLOGGED: losing the counts in a crash only forgives a few minutes of attempts.
  await sql`
    CREATE UNLOGGED TABLE rate_limits (
      key text PRIMARY KEY,
      hits timestamptz[] NOT NULL,
      expires_at timestamptz NOT NULL
    )`.execute(db);
  await sql`CREATE INDEX rate_limits_expires_idx ON rate_limits (expires_at)`.execute(db);

  // One hit against a limit, atomically (the key's row is locked for the statement): drops the
  // hits older than the window, admits this one while fewer than the limit remain, and answers how
  // many there are (limit + 1 when refused) and when the oldest leaves the window.
  await sql`
    CREATE FUNCTION rate_limit_hit(p_key text, p_limit integer, p_window interval)
    RETURNS TABLE (admitted boolean, hits integer, frees_at timestamptz)
    LANGUAGE plpgsql AS $$
    DECLARE
      held timestamptz[];
      kept timestamptz[];
      hit_at timestamptz;
    BEGIN
      INSERT INTO rate_limits (key, hits, expires_at) VALUES (p_key, '{}', now()) ON CONFLICT (key) DO NOTHING;
      SELECT r.hits INTO held FROM rate_limits r WHERE r.key = p_key FOR UPDATE;
      hit_at := clock_timestamp(); -- once the row is ours, so the hits stay in order
      SELECT coalesce(array_agg(h ORDER BY h), '{}') INTO kept FROM unnest(held) AS h WHERE h > hit_at - p_window;
      admitted := cardinality(kept) < p_limit;
      IF admitted THEN
        kept := kept || hit_at;
      END IF;
      UPDATE rate_limits SET hits = kept, expires_at = coalesce(kept[cardinality(kept)], hit_at) + p_window
        WHERE key = p_key;
      hits := cardinality(kept) + CASE WHEN admitted THEN 0 ELSE 1 END;
      frees_at := coalesce(kept[1], hit_at) + p_window;
      RETURN NEXT;
    END
    $$`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP FUNCTION rate_limit_hit(text, integer, interval)`.execute(db);
  await sql`DROP TABLE rate_limits`.execute(db);
}
