import type { Migration } from 'kysely';
import * as foundation from './001_foundation.ts';
import * as messages from './002_messages.ts';

/** Every migration, by name; names sort in the order they are applied. */
export const migrations: Record<string, Migration> = {
  '001_foundation': foundation,
  '002_messages': messages,
};
