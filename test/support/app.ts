import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { loadConfig } from '../../src/config.ts';
import { type RunningTablo, startTablo } from '../../src/server.ts';
import { createLogger } from '../../src/web/logging.ts';
import { createTestDatabase } from './database.ts';

export type TestApp = RunningTablo & { databaseUrl: string; close: () => Promise<void> };

/**
 * The real app over real HTTP on a free port, with its own fresh database (or a given one, for
 * several instances sharing a database).
 */
export async function startTestApp(
  options: { databaseUrl?: string; env?: Record<string, string>; logger?: Logger } = {},
): Promise<TestApp> {
  const database = options.databaseUrl ? undefined : await createTestDatabase();
  const databaseUrl = options.databaseUrl ?? database!.url;
  const config = loadConfig({
    PORT: '0',
    DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'tablo-test-')),
    SESSION_SECRET: 'test-secret-test-secret-test-secret',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...options.env,
  });
  const tablo = await startTablo(config, databaseUrl, options.logger ?? createLogger(config.logLevel));
  return {
    ...tablo,
    databaseUrl,
    close: async () => {
      await tablo.stop();
      await database?.drop();
    },
  };
}
