import { loadConfig } from './config.ts';
import { type EmbeddedDatabase, startEmbeddedPostgres } from './db/embedded.ts';
import { startTablo } from './server.ts';
import { createLogger } from './web/logging.ts';

const config = loadConfig();
const logger = createLogger(config.logLevel, { production: config.production });
let embedded: EmbeddedDatabase | undefined;

try {
  if (!config.databaseUrl) {
    embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort, logger });
  }
  const tablo = await startTablo(config, config.databaseUrl ?? embedded!.url, logger);
  console.log(`Tablo is ready at ${tablo.url}`);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await tablo.stop();
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
