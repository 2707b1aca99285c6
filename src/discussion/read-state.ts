import { sql } from 'kysely';
import type { Database } from '../db/database.ts';
import type { ReadPosition } from '../live/broker.ts';

/** Advances a member's last-read position (never backwards); answers whether it moved. */
export async function markRead(db: Database, tabloId: number, userId: number, seq: number): Promise<boolean> {
  const result = await db
    .updateTable('tablo_members')
    .set({ last_read_seq: seq })
    .where('tablo_id', '=', tabloId)
    .where('user_id', '=', userId)
    .where('last_read_seq', '<', seq)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

const FLUSH_MS = 1_000;

/**
 * Messages that reach an open discussion are read. Writing that per message per reader would
 * cost a query each; instead, once a second, the positions the open streams have reached (and
 * those of streams that closed meanwhile) are written together in one statement.
 */
export class ReadTracker {
  private positions = new Map<string, { tabloId: number; userId: number; seq: number }>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Database,
    private readonly openPositions: () => ReadPosition[],
    /** Told which read positions actually moved, so the person's other pages can update. */
    private readonly onSaved: (positions: ReadPosition[]) => void,
    private readonly onError: (error: unknown) => void,
  ) {
    this.timer = setInterval(() => void this.flush(), FLUSH_MS);
    this.timer.unref();
  }

  seen(tabloId: number, userId: number, seq: number): void {
    const key = `${tabloId}:${userId}`;
    const known = this.positions.get(key);
    if (!known || known.seq < seq) this.positions.set(key, { tabloId, userId, seq });
  }

  flush(): Promise<void> {
    for (const position of this.openPositions()) this.seen(position.tabloId, position.userId, position.seq);
    if (this.positions.size === 0) return this.flushing;
    const rows = [...this.positions.values()];
    this.positions = new Map();
    const values = sql.join(rows.map((r) => sql`(${r.tabloId}::int, ${r.userId}::int, ${r.seq}::int)`));
    this.flushing = this.flushing
      .then(() =>
        // Rows locked in one order (tablo, person) before they are written: two instances
        // flushing overlapping positions at once would otherwise each hold a row the other waits
        // for (a deadlock, seen with two instances under load).
        sql<{ tablo_id: number; user_id: number; last_read_seq: number }>`
          WITH v (tablo_id, user_id, seq) AS (VALUES ${values}),
          locked AS (
            SELECT m.tablo_id, m.user_id, v.seq FROM tablo_members m
            JOIN v ON m.tablo_id = v.tablo_id AND m.user_id = v.user_id
            WHERE m.last_read_seq < v.seq
            ORDER BY m.tablo_id, m.user_id
            FOR UPDATE OF m
          )
          UPDATE tablo_members AS m SET last_read_seq = locked.seq
          FROM locked
          WHERE m.tablo_id = locked.tablo_id AND m.user_id = locked.user_id AND m.last_read_seq < locked.seq
          RETURNING m.tablo_id, m.user_id, m.last_read_seq`.execute(this.db),
      )
      .then(
        ({ rows: moved }) => {
          if (moved.length) this.onSaved(moved.map((r) => ({ tabloId: r.tablo_id, userId: r.user_id, seq: r.last_read_seq })));
        },
        (error) => this.onError(error),
      );
    return this.flushing;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
