import { type Kysely, sql } from 'kysely';
import { handleCandidates, suggestedHandle } from '../src/accounts/handles.ts';

const BACKFILL_BATCH = 500;

export async function up(db: Kysely<unknown>): Promise<void> {
  // Every person gets a handle for mentions. Existing accounts get the one registration would
  // have made: from the name, else the email, with a number appended when taken.
  await sql`ALTER TABLE users ADD COLUMN handle text`.execute(db);
  const { rows } = await sql<{ id: number; name: string; email: string }>`SELECT id, name, email FROM users ORDER BY id`.execute(db);
  const taken = new Set<string>();
  const handles = rows.map((user) => {
    for (const candidate of handleCandidates(suggestedHandle(user.name, user.email))) {
      if (taken.has(candidate)) continue;
      taken.add(candidate);
      return { id: user.id, handle: candidate };
    }
    throw new Error('unreachable: candidates never run out');
  });
  for (let i = 0; i < handles.length; i += BACKFILL_BATCH) {
    const values = handles.slice(i, i + BACKFILL_BATCH).map((h) => sql`(${h.id}::integer, ${h.handle}::text)`);
    await sql`UPDATE users SET handle = v.handle FROM (VALUES ${sql.join(values)}) AS v (id, handle) WHERE users.id = v.id`.execute(db);
  }
  await sql`ALTER TABLE users ALTER COLUMN handle SET NOT NULL`.execute(db);
  await sql`
    ALTER TABLE users ADD CONSTRAINT users_handle_check
      CHECK (handle ~ '^[A-Za-z0-9_-]{1,30}$' AND lower(handle) <> 'all')`.execute(db);
  // Unique whatever the case: @Ada and @ada are one person. Also makes "taken" race-free.
  await sql`CREATE UNIQUE INDEX users_handle_key ON users (lower(handle))`.execute(db);

  // The settings page lists a person's sessions, and a password change ends them.
  await sql`CREATE INDEX sessions_user_idx ON sessions ((sess ->> 'userId'))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`DROP INDEX sessions_user_idx`.execute(db);
  await sql`ALTER TABLE users DROP COLUMN handle`.execute(db);
}
