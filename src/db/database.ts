import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Tables } from './schema.ts';

export type Database = Kysely<Tables>;

// Postgres returns int8 (bigint) for count(*); our counts always fit in a JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export function createPool(connectionString: string, logger: Logger, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 5_000 });
  // An idle client losing its connection (the server restarting or shutting down) emits 'error'
  // on the pool; unhandled, that would crash the process.
  pool.on('error', (error) => logger.warn({ err: error }, 'database connection lost'));
  return pool;
}

export function createDatabase(pool: pg.Pool): Database {
  return new Kysely<Tables>({ dialect: new PostgresDialect({ pool }) });
}
