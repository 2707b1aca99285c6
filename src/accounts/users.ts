import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Database } from '../db/database.ts';
import { handleCandidates, handleFrom, suggestedHandle } from './handles.ts';

export type CurrentUser = { id: number; name: string; email: string; handle: string };

const CURRENT_USER_COLUMNS = ['id', 'name', 'email', 'handle'] as const;
/** How many handles `ada`, `ada2`… are looked up at once when making one. */
const CANDIDATES_PER_LOOKUP = 50;
/** Registrations racing for the same handle retry; this bounds how often. */
const MAX_HANDLE_ATTEMPTS = 10;

export function normalizeEmail(email: string): string {
  return email.trim().toLowerCase();
}

/** An email address as typed in a form: trimmed, and well-formed. */
export const emailAddress = z
  .string()
  .trim()
  .min(1, 'Enter an email address.')
  .max(254, 'That email is too long.')
  .pipe(z.email('Enter a valid email address.'));

export async function findUserByEmail(db: Database, email: string) {
  // No stored email contains NUL, and PostgreSQL rejects it in a query parameter.
  if (email.includes('\u0000')) return undefined;
  return db
    .selectFrom('users')
    .select(['id', 'name', 'email', 'password_hash'])
    .where((eb) => eb(eb.fn('lower', ['email']), '=', normalizeEmail(email)))
    .where('bot', '=', false)
    .executeTakeFirst();
}

export async function findUserById(db: Database, id: number): Promise<CurrentUser | undefined> {
  return db.selectFrom('users').select(CURRENT_USER_COLUMNS).where('id', '=', id).executeTakeFirst();
}

/**
 * Creates the account with a handle made from the name (or email), or answers `undefined` when
 * the email is taken (even by a concurrent sign-up). Two sign-ups racing for one handle: the
 * unique index refuses the second, which takes the next free one.
 */
export async function createUser(
  db: Database,
  account: { email: string; name: string; passwordHash: string },
): Promise<CurrentUser | undefined> {
  const suggestion = suggestedHandle(account.name, account.email);
  for (let attempt = 1; ; attempt++) {
    const handle = await firstFreeHandle(db, suggestion);
    try {
      return await db
        .insertInto('users')
        .values({ email: normalizeEmail(account.email), name: account.name, handle, password_hash: account.passwordHash })
        .returning(CURRENT_USER_COLUMNS)
        .executeTakeFirstOrThrow();
    } catch (error) {
      const violated = uniqueViolation(error);
      if (violated === 'users_email_key') return undefined;
      if (violated === 'users_handle_key' && attempt < MAX_HANDLE_ATTEMPTS) continue;
      throw error;
    }
  }
}

/**
 * A bot's account: a name, the handle asked for (undefined when someone has it) or one made from
 * the name. It has no email anyone can type and no password: it never signs in with a browser,
 * only with API tokens.
 */
export async function createBotAccount(
  db: Pick<Database, 'selectFrom' | 'insertInto'>,
  bot: { name: string; handle: string | undefined },
): Promise<CurrentUser | undefined> {
  const suggestion = handleFrom(bot.name) ?? 'bot';
  for (let attempt = 1; ; attempt++) {
    const handle = bot.handle ?? (await firstFreeHandle(db, suggestion));
    try {
      return await db
        .insertInto('users')
        // A `.invalid` address (RFC 2606) reaches no one; '!' is no hash any password verifies against.
        .values({ email: `bot-${randomUUID()}@bots.invalid`, name: bot.name, handle, password_hash: '!', bot: true })
        .returning(CURRENT_USER_COLUMNS)
        .executeTakeFirstOrThrow();
    } catch (error) {
      if (uniqueViolation(error) !== 'users_handle_key') throw error;
      if (bot.handle !== undefined) return undefined;
      if (attempt >= MAX_HANDLE_ATTEMPTS) throw error;
    }
  }
}

/** The first of `ada`, `ada2`, `ada3`… that nobody has (whatever the case). */
async function firstFreeHandle(db: Pick<Database, 'selectFrom'>, suggestion: string): Promise<string> {
  const candidates = handleCandidates(suggestion);
  for (;;) {
    const batch = Array.from({ length: CANDIDATES_PER_LOOKUP }, () => candidates.next().value as string);
    const rows = await db
      .selectFrom('users')
      .select((eb) => eb.fn<string>('lower', ['handle']).as('handle'))
      .where((eb) => eb(eb.fn('lower', ['handle']), 'in', batch))
      .execute();
    const taken = new Set(rows.map((r) => r.handle));
    const free = batch.find((candidate) => !taken.has(candidate));
    if (free) return free;
  }
}

export async function renamePerson(db: Database, userId: number, name: string): Promise<void> {
  await db.updateTable('users').set({ name }).where('id', '=', userId).execute();
}

/** Answers false when another person has that handle (whatever the case). */
export async function changeHandle(db: Database, userId: number, handle: string): Promise<boolean> {
  try {
    await db.updateTable('users').set({ handle }).where('id', '=', userId).execute();
    return true;
  } catch (error) {
    if (uniqueViolation(error) === 'users_handle_key') return false;
    throw error;
  }
}

/** The name of the unique index or constraint an insert or update ran into, if that is what failed. */
function uniqueViolation(error: unknown): string | undefined {
  const pgError = error as { code?: string; constraint?: string };
  return pgError.code === '23505' ? pgError.constraint : undefined;
}
