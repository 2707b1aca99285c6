import { sql } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';

/**
 * The durable outbox: side effects that must survive a crash and be retried (Web Push, webhooks)
 * are rows of `outbox`, written in the same transaction as the change that causes them, and run
 * by a worker on every instance.
 *
 * - Claiming: one short statement takes due entries `FOR UPDATE SKIP LOCKED`, counts the attempt
 *   and sets a lease (`locked_until`). Two workers never claim the same attempt: the second skips
 *   the row while the first's statement holds it, and then sees the lease.
 * - Finishing: done, rescheduled with backoff, or dead — only by the worker whose attempt it is
 *   (`attempts` is the fencing token), so a worker whose lease ran out cannot overwrite a later one.
 * - A crash loses nothing: a claimed entry nobody finished is due again once its lease runs out.
 *   Delivery is at least once: an attempt that ran but crashed before saying so runs again.
 * - Waking: a short poll (OUTBOX_POLL_MS, 500 ms): one indexed query per instance per poll, no
 *   extra connection held for LISTEN; `wake()` runs a poll at once.
 */

export type OutboxEntry = { id: number; kind: string; payload: unknown; attempts: number };

/** Something to do later: a kind (which handler runs it) and its payload (JSON). */
export type NewEntry = { kind: string; payload: unknown };

/**
 * Runs one entry. Resolving means done; it may answer follow-up entries, written in the same
 * transaction that marks this one done (a fan-out is then never run twice, nor lost). Throwing
 * means try again later (or, past the last attempt, dead).
 */
export type OutboxHandler = (entry: OutboxEntry) => Promise<void | NewEntry[]>;

/** After this many attempts an entry is dead (kept, with its last error). */
export const MAX_ATTEMPTS = 8;
const FIRST_RETRY_MS = 5_000;
const GROWTH = 3;
const JITTER = 0.2;

/**
 * How long to wait after the `attempt`-th failure: 5 s, 15 s, 45 s, 2¼ min, 6¾ min, 20 min, 1 h
 * (each ±20 %, so that entries that failed together do not come back together). The first retry
 * comes within 6 s; the eight attempts span about 1½ hours (never less than 1 h 12 min).
 */
export function retryDelayMs(attempt: number, random: () => number = Math.random, firstRetryMs = FIRST_RETRY_MS): number {
  const base = firstRetryMs * GROWTH ** (Math.max(1, attempt) - 1);
  return Math.round(base * (1 - JITTER + 2 * JITTER * random()));
}

/** Writes entries outside any larger change (a change's own entries go in its own statement). */
export async function enqueue(db: Pick<Database, 'insertInto'>, entries: NewEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await db
    .insertInto('outbox')
    .values(entries.map((e) => ({ kind: e.kind, payload: JSON.stringify(e.payload) })))
    .execute();
}

export type OutboxWorkerOptions = {
  db: Database;
  handlers: Record<string, OutboxHandler>;
  logger: Logger;
  pollMs?: number;
  /** How long a claimed entry is this worker's; a handler must finish well within it. */
  leaseMs?: number;
  /** Entries claimed (and run concurrently) at a time. */
  batch?: number;
  /** The first retry's delay (5 s); tests make it short. */
  firstRetryMs?: number;
  /** Attempts before an entry is dead (MAX_ATTEMPTS); tests make it small. */
  maxAttempts?: number;
};

const POLL_MS = 500;
const LEASE_MS = 60_000;
const BATCH = 16;
const KEEP_DONE = '7 days';
const PURGE_EVERY_MS = 10 * 60_000;
const STOP_WAIT_MS = 3_000;

export class OutboxWorker {
  private readonly pollMs: number;
  private readonly leaseMs: number;
  private readonly batch: number;
  private readonly firstRetryMs: number;
  private readonly maxAttempts: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private lastPurge = 0;

  constructor(private readonly options: OutboxWorkerOptions) {
    this.pollMs = options.pollMs ?? POLL_MS;
    this.leaseMs = options.leaseMs ?? LEASE_MS;
    this.batch = options.batch ?? BATCH;
    this.firstRetryMs = options.firstRetryMs ?? FIRST_RETRY_MS;
    this.maxAttempts = options.maxAttempts ?? MAX_ATTEMPTS;
  }

  start(): void {
    this.schedule(0);
  }

  /** Polls now (a change on this instance just wrote entries). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.schedule(0);
  }

  /**
   * Claims nothing more and waits a little for the entries it is running; those still running
   * then are left to their lease (they run again elsewhere, or after a restart).
   */
  async stop(waitMs = STOP_WAIT_MS): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.running, new Promise((resolve) => (timer = setTimeout(resolve, waitMs)))]);
    clearTimeout(timer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.poll().finally(() => {
        this.running = undefined;
        const again = this.again;
        this.again = false;
        this.schedule(again ? 0 : this.pollMs);
      });
    }, ms);
    this.timer.unref();
  }

  /** Claims and runs due entries until none is left. Never rejects. */
  private async poll(): Promise<void> {
    try {
      for (;;) {
        const claimed = await this.claim();
        await Promise.all(claimed.map((entry) => this.run(entry)));
        if (claimed.length < this.batch || this.stopped) break;
      }
      await this.purgeDone();
    } catch (error) {
      this.options.logger.warn({ err: error }, 'outbox poll failed');
    }
  }

  private async claim(): Promise<OutboxEntry[]> {
    const { rows } = await sql<OutboxEntry>`
      UPDATE outbox SET attempts = attempts + 1, locked_until = now() + ${this.leaseMs} * interval '1 millisecond'
      WHERE id IN (
        SELECT id FROM outbox
        WHERE status = 'pending' AND run_at <= now() AND (locked_until IS NULL OR locked_until <= now())
        ORDER BY run_at
        LIMIT ${this.batch}
        FOR UPDATE SKIP LOCKED)
      RETURNING id, kind, payload, attempts`.execute(this.options.db);
    return rows;
  }

  private async run(entry: OutboxEntry): Promise<void> {
    const handler = this.options.handlers[entry.kind];
    let followUps: void | NewEntry[];
    try {
      if (!handler) throw new Error(`no handler for outbox entries of kind ${entry.kind}`);
      followUps = await handler(entry);
    } catch (error) {
      await this.failed(entry, error);
      return;
    }
    try {
      await this.options.db.transaction().execute(async (trx) => {
        const mine = await trx
          .updateTable('outbox')
          .set({ status: 'done', locked_until: null, last_error: null })
          .where('id', '=', entry.id)
          .where('attempts', '=', entry.attempts)
          .where('status', '=', 'pending')
          .executeTakeFirst();
        // Another worker took it over after this one's lease ran out: its follow-ups are its own.
        if (mine.numUpdatedRows > 0n && followUps) await enqueue(trx, followUps);
      });
    } catch (error) {
      // Not recorded: the lease runs out and the entry runs again (at least once).
      this.options.logger.warn({ err: error, outbox: entry.id, kind: entry.kind }, 'outbox entry ran but was not marked done');
    }
  }

  private async failed(entry: OutboxEntry, error: unknown): Promise<void> {
    const message = error instanceof Error ? error.message : String(error);
    const dead = entry.attempts >= this.maxAttempts;
    const log = { outbox: entry.id, kind: entry.kind, attempt: entry.attempts, error: message };
    if (dead) this.options.logger.warn(log, 'outbox entry is dead after its last attempt');
    else this.options.logger.info(log, 'outbox entry failed; retrying later');
    await this.options.db
      .updateTable('outbox')
      .set({
        status: dead ? 'dead' : 'pending',
        run_at: sql<Date>`now() + ${retryDelayMs(entry.attempts, Math.random, this.firstRetryMs)} * interval '1 millisecond'`,
        locked_until: null,
        last_error: message.slice(0, 2000),
      })
      .where('id', '=', entry.id)
      .where('attempts', '=', entry.attempts)
      .where('status', '=', 'pending')
      .execute()
      .catch((e: unknown) => this.options.logger.warn({ err: e, outbox: entry.id }, 'outbox failure not recorded'));
  }

  private async purgeDone(): Promise<void> {
    if (Date.now() - this.lastPurge < PURGE_EVERY_MS) return;
    this.lastPurge = Date.now();
    await sql`DELETE FROM outbox WHERE status = 'done' AND created_at < now() - ${sql.lit(KEEP_DONE)}::interval`.execute(this.options.db);
  }
}
