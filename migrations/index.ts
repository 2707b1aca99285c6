import type { Migration } from 'kysely';
import * as foundation from './001_foundation.ts';
import * as messages from './002_messages.ts';
import * as presence from './003_presence.ts';
import * as handles from './004_handles.ts';
import * as limits from './005_limits.ts';
import * as invitations from './006_invitations.ts';
import * as events from './007_events.ts';
import * as notifications from './009_notifications.ts';
import * as mentionsSearch from './010_mentions_search.ts';
import * as files from './011_files.ts';
import * as tokensAndBots from './012_tokens_and_bots.ts';
import * as webhookDeliveries from './014_webhook_deliveries.ts';

/** Every migration, by name; names sort in the order they are applied. */
export const migrations: Record<string, Migration> = {
  '001_foundation': foundation,
  '002_messages': messages,
  '003_presence': presence,
  '004_handles': handles,
  '005_limits': limits,
  '006_invitations': invitations,
  '007_events': events,
  '009_notifications': notifications,
  '010_mentions_search': mentionsSearch,
  '011_files': files,
  '012_tokens_and_bots': tokensAndBots,
  '014_webhook_deliveries': webhookDeliveries,
};
