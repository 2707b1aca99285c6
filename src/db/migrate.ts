import { type Kysely, Migrator, sql } from 'kysely';
import { migrations } from '../../migrations/index.ts';
import type { Database } from './database.ts';

// Any constant that no other code uses as an advisory lock key.
const MIGRATION_LOCK_KEY = 7_420_001;

/**
 * Applies pending migrations. Safe to re-run, and safe from several processes at once: they queue
 * on one advisory lock, so the migration tables themselves are never created twice concurrently.
 */
export async function migrateToLatest(db: Database): Promise<string[]> {
  return db.connection().execute(async (connection) => {
    await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(connection);
    try {
      const migrator = new Migrator({
        db: connection as Kysely<unknown>,
        provider: { getMigrations: async () => migrations },
      });
      const { error, results } = await migrator.migrateToLatest();
      if (error) throw error;
      return (results ?? []).map((r) => r.migrationName);
    } finally {
      await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(connection);
    }
  });
}
