import type { Store } from 'express-rate-limit';
import { sql } from 'kysely';
import type { Database } from '../db/database.ts';

/**
 * Rate limits kept in PostgreSQL, so every instance counts against the same allowance. A limit
 * is a sliding window: at most `limit` hits in any `windowMs`, all of which may come at once.
 * The table and its one-statement `rate_limit_hit` are in migrations/005_limits.ts.
 */
export type Limit = { limit: number; windowMs: number };

export type Hit = { admitted: boolean; hits: number; freesAt: Date };

/** Counts one hit against `key`; refused hits are not stored, so hammering does not extend a wait. */
export async function hitLimit(db: Database, key: string, { limit, windowMs }: Limit): Promise<Hit> {
  const { rows } = await sql<{ admitted: boolean; hits: number; frees_at: Date }>`
    SELECT admitted, hits, frees_at FROM rate_limit_hit(${key}, ${limit}, make_interval(secs => ${windowMs / 1000}))
  `.execute(db);
  const row = rows[0]!;
  return { admitted: row.admitted, hits: row.hits, freesAt: row.frees_at };
}

/** Gives back the newest hit of `key` (a request that turned out not to count). */
export async function refundHit(db: Database, key: string): Promise<void> {
  await sql`UPDATE rate_limits SET hits = hits[1:cardinality(hits) - 1] WHERE key = ${key} AND cardinality(hits) > 0`.execute(db);
}

/** Whole seconds until `freesAt`, at least 1: the value of a `Retry-After` header. */
export function secondsUntil(freesAt: Date): number {
  return Math.max(1, Math.ceil((freesAt.getTime() - Date.now()) / 1000));
}

/** Forgets the keys whose hits have all left their window. Any instance may run it. */
export async function purgeExpiredLimits(db: Database): Promise<void> {
  await sql`DELETE FROM rate_limits WHERE expires_at < now()`.execute(db);
}

/** Runs purgeExpiredLimits every few minutes until stopped; errors (a database blip) wait for the next turn. */
export function purgeLimitsPeriodically(db: Database, onError: (error: unknown) => void, everyMs = 5 * 60_000): () => void {
  const timer = setInterval(() => purgeExpiredLimits(db).catch(onError), everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * An express-rate-limit store over the same table, for limits applied as middleware (sign-in).
 * `prefix` keeps each limiter's keys apart.
 */
export class PostgresLimitStore implements Store {
  readonly localKeys = false;

  constructor(
    private readonly db: Database,
    readonly prefix: string,
    private readonly rule: Limit,
  ) {}

  async increment(key: string) {
    const hit = await hitLimit(this.db, this.prefix + key, this.rule);
    return { totalHits: hit.hits, resetTime: hit.freesAt };
  }

  async decrement(key: string) {
    await refundHit(this.db, this.prefix + key);
  }

  async resetKey(key: string) {
    await sql`DELETE FROM rate_limits WHERE key = ${this.prefix + key}`.execute(this.db);
  }
}

/** The answer of a per-person limit: go ahead, or wait this many seconds. */
export type Allowance = { ok: true } | { ok: false; retryAfterSeconds: number };

/**
 * Messages one person may post in a window (`POST_RATE_LIMIT` per 60 s; 0 = no limit). The
 * discussion's POST and the API call it once per message they are about to store; `refund` gives
 * a hit back when the post stored nothing new (a retry with a known client_token).
 */
export type PostingLimit = {
  take: (userId: number) => Promise<Allowance>;
  refund: (userId: number) => Promise<void>;
};

export const POSTING_WINDOW_MS = 60_000;

export function postingLimit(db: Database, perWindow: number): PostingLimit {
  if (perWindow === 0) return { take: async () => ({ ok: true }), refund: async () => {} };
  const rule = { limit: perWindow, windowMs: POSTING_WINDOW_MS };
  const key = (userId: number) => `post:${userId}`;
  return {
    take: async (userId) => {
      const hit = await hitLimit(db, key(userId), rule);
      return hit.admitted ? { ok: true } : { ok: false, retryAfterSeconds: secondsUntil(hit.freesAt) };
    },
    refund: (userId) => refundHit(db, key(userId)),
  };
}
