import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { afterEach } from 'node:test';
import { loadConfig } from '../../src/config.ts';
import { type RunningTablo, startTablo } from '../../src/server.ts';
import { createLogger } from '../../src/web/logging.ts';
import { createTestDatabase } from './database.ts';
import { CapturedLogs } from './logs.ts';

export type TestApp = RunningTablo & {
  databaseUrl: string;
  /** Its log lines at `warn` and above; unexpected errors fail the test that saw them. */
  logs: CapturedLogs;
  close: () => Promise<void>;
};

let started = 0;

/**
 * The real app over real HTTP on a free port, with its own fresh database (or a given one, for
 * several instances sharing a database). Its logs (`warn` and above) are kept in memory: an error
 * line fails the test during which it was logged, unless `expectErrors` (or `logs.expect`) names
 * it. `TEST_LOG_LEVEL=info` also prints them.
 */
export async function startTestApp(
  options: { databaseUrl?: string; env?: Record<string, string>; logger?: Logger; expectErrors?: RegExp[] } = {},
): Promise<TestApp> {
  const database = options.databaseUrl ? undefined : await createTestDatabase();
  const databaseUrl = options.databaseUrl ?? database!.url;
  const printed = process.env.TEST_LOG_LEVEL;
  const config = loadConfig({
    PORT: '0',
    DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'tablo-test-')),
    SESSION_SECRET: 'test-secret-test-secret-test-secret',
    LOG_LEVEL: printed && printed !== 'silent' ? printed : 'warn',
    // Nothing routes by /readyz here: stop at once unless a test measures the drain.
    SHUTDOWN_DRAIN_MS: '0',
    ...options.env,
  });
  const logs = new CapturedLogs(`app #${++started}`, options.expectErrors, Boolean(printed && printed !== 'silent'));
  const unwatch = watchLogs(logs);
  const tablo = await startTablo(config, databaseUrl, options.logger ?? createLogger(config.logLevel, { destination: logs }));
  return {
    ...tablo,
    databaseUrl,
    logs,
    close: async () => {
      try {
        await tablo.stop();
      } finally {
        unwatch();
        // Lines after this are the harness's doing: it drops the database under the stopped server.
        logs.closed = true;
        await database?.drop();
      }
      logs.check('while it ran or stopped');
    },
  };
}

/** Servers whose logs are checked after every test of the file that started them. */
const watched = new Set<CapturedLogs>();

function watchLogs(logs: CapturedLogs): () => void {
  watched.add(logs);
  return () => watched.delete(logs);
}

// Registered once per test file, at the root: it runs after every test, in every describe.
afterEach(() => {
  const failures: string[] = [];
  for (const logs of watched) {
    try {
      logs.check('during this test');
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  if (failures.length) throw new Error(failures.join('\n'));
});

/** Two instances on one database, both started with `env` (the Postgres bus, for most tests that want two). */
export async function startTwoInstances(env: Record<string, string>, expectErrors?: RegExp[]): Promise<[TestApp, TestApp]> {
  const a = await startTestApp({ env, expectErrors });
  return [a, await startTestApp({ databaseUrl: a.databaseUrl, env, expectErrors })];
}
