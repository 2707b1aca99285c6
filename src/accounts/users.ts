import { z } from 'zod';
import type { Database } from '../db/database.ts';

export type CurrentUser = { id: number; name: string; email: string };

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
    .executeTakeFirst();
}

export async function findUserById(db: Database, id: number): Promise<CurrentUser | undefined> {
  return db.selectFrom('users').select(['id', 'name', 'email']).where('id', '=', id).executeTakeFirst();
}

/** Creates the account, or answers `undefined` when the email is taken (even by a concurrent sign-up). */
export async function createUser(
  db: Database,
  account: { email: string; name: string; passwordHash: string },
): Promise<CurrentUser | undefined> {
  try {
    return await db
      .insertInto('users')
      .values({ email: normalizeEmail(account.email), name: account.name, password_hash: account.passwordHash })
      .returning(['id', 'name', 'email'])
      .executeTakeFirstOrThrow();
  } catch (error) {
    if ((error as { code?: string }).code === '23505') return undefined;
    throw error;
  }
}
