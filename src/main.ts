import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createSessionStore, loadSessionSecret } from './accounts/sessions.ts';
import { createApp } from './app.ts';
import { loadConfig } from './config.ts';
import { createDatabase, createPool } from './db/database.ts';
import { type EmbeddedDatabase, startEmbeddedPostgres } from './db/embedded.ts';
import { migrateToLatest } from './db/migrate.ts';
import { createLogger } from './web/logging.ts';
import { createMetrics } from './web/metrics.ts';

const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);
  let embedded: EmbeddedDatabase | undefined;
  try {
    if (!config.databaseUrl) {
      embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort, logger });
    }
    const pool = createPool(config.databaseUrl ?? embedded!.url, logger);
    const db = createDatabase(pool);
    const applied = await migrateToLatest(db);
    if (applied.length) logger.info({ applied }, 'migrations applied');

    const sessionStore = createSessionStore(pool);
    const lifecycle = { shuttingDown: false };
    const app = createApp({
      config,
      db,
      logger,
      metrics: createMetrics(),
      sessionStore,
      sessionSecret: loadSessionSecret(config.sessionSecret, config.dataDir),
      lifecycle,
    });
    const server = createServer(app);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, resolve);
    });
    const { port } = server.address() as AddressInfo;
    const shownHost = ['0.0.0.0', '::', '127.0.0.1'].includes(config.host) ? 'localhost' : config.host;
    console.log(`Tablo is ready at http://${shownHost}:${port}`);

    const shutdown = async (signal: string) => {
      if (lifecycle.shuttingDown) return;
      lifecycle.shuttingDown = true;
      logger.info({ signal }, 'shutting down');
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeIdleConnections();
      const forced = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await closed;
      clearTimeout(forced);
      sessionStore.close();
      await db.destroy();
      await embedded?.stop();
      logger.info('stopped');
      process.exit(0);
    };
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
  } catch (error) {
    console.error(`Tablo could not start: ${error instanceof Error ? error.message : String(error)}`);
    await embedded?.stop().catch(() => {});
    process.exit(1);
  }
}

await main();
