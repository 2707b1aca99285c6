import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';

const HEARTBEAT_MS = 10_000;
const FRESH = '30 seconds';

/**
 * Who has which discussion open, across instances: each instance writes down its own people per
 * tablo (table `presence`), keeps its rows fresh with a heartbeat, and reads everyone's fresh rows.
 * A crashed instance's rows age out (FRESH).
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
  ) {
    this.heartbeat = setInterval(() => void this.refresh(), HEARTBEAT_MS);
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
      .where('seen_at', '>', sql<Date>`now() - ${sql.lit(FRESH)}::interval`)
      .execute();
    return rows.map((r) => r.user_id);
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
