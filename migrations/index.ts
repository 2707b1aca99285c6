import type { Migration } from 'kysely';
import * as foundation from './001_foundation.ts';
import * as messages from './002_messages.ts';
import * as presence from './003_presence.ts';
import * as events from './007_events.ts';

/** Every migration, by name; names sort in the order they are applied. */
export const migrations: Record<string, Migration> = {
  '001_foundation': foundation,
  '002_messages': messages,
  '003_presence': presence,
  '007_events': events,
};
