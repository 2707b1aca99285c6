import { createHash } from 'node:crypto';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Tables } from './schema.ts';

export type Database = Kysely<Tables>;

// Postgres returns int8 (bigint) for count(*); our counts always fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/** Marks a statement the hot path runs over and over: each connection prepares it once (see PreparingClient). */
export const PREPARED = '/* prepared */ ';

/**
 * A client that prepares the statements marked PREPARED, once per connection, under a name made
 * from their text: PostgreSQL then parses and plans them once, not on every post (measured: a
 * third of PostgreSQL's CPU per post). Kysely has no way to name a statement; it calls
 * `query(text, values)`, the one form changed here — every other form of pg's many passes through.
 * Marked texts must be few and fixed (their values are parameters): each is kept per connection.
 */
class PreparingClient extends pg.Client {
  override query(...args: unknown[]): never {
    const [text, values] = args;
    if (typeof text === 'string' && text.startsWith(PREPARED) && (values === undefined || Array.isArray(values)) && args.length <= 2) {
      return super.query({ name: statementName(text), text, values: values as unknown[] | undefined }) as never;
    }
    return (super.query as (...a: unknown[]) => never)(...args);
  }
}

const names = new Map<string, string>();
function statementName(text: string): string {
  let name = names.get(text);
  if (!name) names.set(text, (name = `tablo_${createHash('sha256').update(text).digest('hex').slice(0, 16)}`));
  return name;
}

export function createPool(connectionString: string, logger: Logger, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 5_000, Client: PreparingClient });
  // An idle client losing its connection (the server restarting or shutting down) emits 'error'
  // on the pool; unhandled, that would crash the process.
  pool.on('error', (error) => logger.warn({ err: error }, 'database connection lost'));
  return pool;
}

export function createDatabase(pool: pg.Pool): Database {
  return new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
}
