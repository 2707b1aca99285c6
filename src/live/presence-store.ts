import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';

/** A row not refreshed for this long belongs to an instance that is gone. */
export const PRESENCE_FRESH_MS = 30_000;

/**
 * Who has which discussion open, across instances: each instance writes down its own people per
 * tablo (table `presence`), keeps its rows fresh with a heartbeat, and reads everyone's fresh rows.
 * A crashed instance's rows age out: they stop counting once older than `freshMs`, and the next
 * heartbeat of any instance deletes them and tells the tablos' open discussions.
 */
export class PresenceStore {
  /** Per tablo, the write under way (writes of one tablo never overlap). */
  private readonly writes = new Map<number, Promise<void>>();
  /** Tablos whose write is queued and not yet begun. */
  private readonly due = new Set<number>();
  private readonly heartbeat: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly db: Database,
    private readonly instanceId: string,
    private readonly logger: Logger,
    /** The people with the tablo's discussion open on this instance now. */
    private readonly hereNow: (tabloId: number) => number[],
    /** A tablo's presence was written: show it here, and tell the others. */
    private readonly written: (tabloId: number) => void,
    /** A row older than this no longer counts; rows are refreshed three times as often. */
    private readonly freshMs: number = PRESENCE_FRESH_MS,
  ) {
    this.heartbeat = setInterval(() => void this.beat(), Math.max(1, Math.floor(freshMs / 3)));
    this.heartbeat.unref();
  }

  /**
   * Writes this instance's people on a tablo's discussion. The writes of one tablo run one after
   * another, each reading who is here when it begins: two overlapping transactions (an open and a
   * close) could otherwise leave the closed one's row behind for good (the heartbeat keeps it
   * fresh), or deadlock. A change while a write is queued needs no write of its own.
   */
  changed(tabloId: number): void {
    if (this.stopped || this.due.has(tabloId)) return;
    this.due.add(tabloId);
    const write = (this.writes.get(tabloId) ?? Promise.resolve()).then(() => this.write(tabloId));
    this.writes.set(tabloId, write);
    void write.then(() => {
      if (this.writes.get(tabloId) === write) this.writes.delete(tabloId);
    });
  }

  async whoIsHere(tabloId: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('presence')
      .select('user_id')
      .distinct()
      .where('tablo_id', '=', tabloId)
      .where('seen_at', '>', this.staleBefore())
      .execute();
    return rows.map((r) => r.user_id);
  }

  private staleBefore() {
    return sql<Date>`now() - make_interval(secs => ${this.freshMs / 1000})`;
  }

  private async beat(): Promise<void> {
    await this.refresh();
    await this.sweep();
  }

  /**
   * Deletes rows nobody refreshes any more (an instance that crashed) and announces their tablos,
   * so open discussions drop those people. Of several instances sweeping at once, only the one
   * whose delete took a row announces it.
   */
  async sweep(): Promise<void> {
    if (this.stopped) return;
    const gone = await this.db
      .deleteFrom('presence')
      .where('seen_at', '<=', this.staleBefore())
      .returning('tablo_id')
      .execute()
      .catch((error) => {
        this.logger.warn({ err: error }, 'sweeping stale presence failed');
        return [];
      });
    if (this.stopped) return;
    for (const tabloId of new Set(gone.map((row) => row.tablo_id))) this.written(tabloId);
  }

  async refresh(): Promise<void> {
    if (this.stopped) return;
    await this.db
      .updateTable('presence')
      .set({ seen_at: sql`now()` })
      .where('instance_id', '=', this.instanceId)
      .execute()
      .catch((error) => this.logger.warn({ err: error }, 'presence heartbeat failed'));
  }

  /** Removes this instance's rows; answers the tablos it was present in. */
  async stop(): Promise<number[]> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    // Writes still under way would put rows back after the delete below.
    await Promise.all(this.writes.values());
    const tablos = await this.db
      .deleteFrom('presence')
      .where('instance_id', '=', this.instanceId)
      .returning('tablo_id')
      .execute()
      .catch(() => []);
    return [...new Set(tablos.map((t) => t.tablo_id))];
  }

  /** Never rejects. */
  private async write(tabloId: number): Promise<void> {
    this.due.delete(tabloId);
    const here = this.hereNow(tabloId);
    for (let attempt = 1; ; attempt++) {
      try {
        await this.db.transaction().execute(async (trx) => {
          await trx.deleteFrom('presence').where('instance_id', '=', this.instanceId).where('tablo_id', '=', tabloId).execute();
          if (here.length) {
            await trx
              .insertInto('presence')
              .values(here.map((userId) => ({ instance_id: this.instanceId, tablo_id: tabloId, user_id: userId })))
              .onConflict((oc) => oc.doNothing())
              .execute();
          }
        });
        break;
      } catch (error) {
        // A deadlock with the heartbeat's UPDATE (it locks the same rows, maybe in another order)
        // is worth another go; a foreign-key failure means the tablo was just deleted.
        if ((error as { code?: string }).code === '40P01' && attempt < 3) continue;
        this.logger.debug({ err: error, tabloId }, 'presence not recorded');
        break;
      }
    }
    if (!this.stopped) this.written(tabloId);
  }
}
