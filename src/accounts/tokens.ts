import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { sql } from 'kysely';
import { z } from 'zod';
import type { Database } from '../db/database.ts';
import type { Live } from '../live/live.ts';
import type { CurrentUser } from './users.ts';

/**
 * API tokens: `tablo_` + 256 random bits in base64url. The prefix lets secret scanners recognise
 * a leaked one. Only the SHA-256 of a token is stored; a request's token is hashed and looked up
 * by that hash (an index lookup, then a constant-time comparison of the hashes).
 */
export const TOKEN_PREFIX = 'tablo_';
const TOKEN_BYTES = 32;
const TOKEN_SHAPE = /^tablo_[A-Za-z0-9_-]{43}$/;
/** Last use is written at most this often per token: a busy bot does not write on every call. */
const LAST_USE_PRECISION = '1 minute';

export const tokenName = z.string().trim().min(1, 'Name the token (what will use it?).').max(80, 'Keep the name to 80 characters.');

export type TokenHolder = { user: CurrentUser & { bot: boolean }; tokenId: number; tokenKey: string };

export type ListedToken = { id: number; name: string; createdAt: Date; lastUsedAt: Date | null };

/** What the streams of a token are named by, in the engine's scopes: its id (not a secret). */
export function tokenKeyOf(tokenId: number): string {
  return String(tokenId);
}

function hashOf(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** What a token is remembered by (AccessCache): its hash, never the token. */
export function tokenDigest(token: string): string {
  return hashOf(token).toString('hex');
}

/** Makes a token for an account; answers its value, which is shown once and never stored. */
export async function createToken(db: Pick<Database, 'insertInto'>, userId: number, name: string): Promise<{ id: number; value: string }> {
  const value = TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString('base64url');
  const row = await db
    .insertInto('api_tokens')
    .values({ user_id: userId, name, token_hash: hashOf(value) })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, value };
}

export async function tokensOf(db: Database, userId: number): Promise<ListedToken[]> {
  const rows = await db
    .selectFrom('api_tokens')
    .select(['id', 'name', 'created_at', 'last_used_at'])
    .where('user_id', '=', userId)
    .orderBy('id', 'desc')
    .execute();
  return rows.map((r) => ({ id: r.id, name: r.name, createdAt: r.created_at, lastUsedAt: r.last_used_at }));
}

/**
 * Revokes one of a person's tokens: it stops working at once, and its open streams close on
 * every instance. False when they have no such token.
 */
export async function revokeToken(db: Database, live: Pick<Live, 'revokeWith'>, userId: number, tokenId: number): Promise<boolean> {
  return live.revokeWith({ tokenKey: tokenKeyOf(tokenId) }, 'signed-out', async (trx) => {
    const deleted = await trx.deleteFrom('api_tokens').where('id', '=', tokenId).where('user_id', '=', userId).executeTakeFirst();
    return deleted.numDeletedRows > 0n;
  });
}

/** The account a bearer token belongs to (and the token), or undefined for anything else. */
export async function tokenHolder(db: Database, token: string): Promise<TokenHolder | undefined> {
  if (!TOKEN_SHAPE.test(token)) return undefined;
  const hash = hashOf(token);
  const { rows } = await sql<{ token_id: number; token_hash: Buffer; id: number; name: string; email: string; handle: string; bot: boolean }>`
    WITH found AS (
      SELECT t.id AS token_id, t.token_hash, u.id, u.name, u.email, u.handle, u.bot
      FROM api_tokens t JOIN users u ON u.id = t.user_id
      WHERE t.token_hash = ${hash}
    ), touched AS (
      UPDATE api_tokens SET last_used_at = now()
      WHERE id IN (SELECT token_id FROM found)
        AND (last_used_at IS NULL OR last_used_at < now() - ${LAST_USE_PRECISION}::interval)
    )
    SELECT * FROM found`.execute(db);
  const row = rows[0];
  if (!row || !timingSafeEqual(row.token_hash, hash)) return undefined;
  return {
    user: { id: row.id, name: row.name, email: row.email, handle: row.handle, bot: row.bot },
    tokenId: row.token_id,
    tokenKey: tokenKeyOf(row.token_id),
  };
}

/** Of these token keys, those whose token still exists (the periodic recheck of open streams). */
export async function liveTokenKeys(db: Database, keys: string[]): Promise<string[]> {
  const ids = keys.map(Number).filter((id) => Number.isInteger(id) && id > 0);
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('api_tokens').select('id').where('id', 'in', ids).execute();
  return rows.map((r) => tokenKeyOf(r.id));
}
