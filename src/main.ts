import cluster, { type Worker } from 'node:cluster';
import { type Config, loadConfig } from './config.ts';
import { type EmbeddedDatabase, startEmbeddedPostgres } from './db/embedded.ts';
import { startTablo } from './server.ts';
import { createLogger } from './web/logging.ts';

/** A worker that does not stop within this after SIGTERM is killed (its own grace is 10 s). */
const WORKER_STOP_MS = 15_000;

const config = configOrExit();
const logger = createLogger(config.logLevel, { production: config.production });

if (cluster.isWorker) await serveAsWorker(config);
else await start(config);

function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    console.error(`Tablo could not start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}

/**
 * One process, or (WEB_CONCURRENCY > 1) a primary that owns the embedded database and keeps N
 * workers serving one port, which share fan-out through the Postgres bus.
 */
async function start(config: Config): Promise<void> {
  let embedded: EmbeddedDatabase | undefined;
  try {
    if (!config.databaseUrl) {
      embedded = await startEmbeddedPostgres({ dataDir: config.dataDir, port: config.embeddedPgPort, logger });
    }
    const databaseUrl = config.databaseUrl ?? embedded!.url;
    const stop = config.webConcurrency > 1 ? await startWorkers(config, databaseUrl) : await serveHere(config, databaseUrl);
    onSignal(async () => {
      await stop();
      await embedded?.stop();
    });
  } catch (error) {
    console.error(`Tablo could not start: ${error instanceof Error ? error.message : String(error)}`);
    await embedded?.stop().catch(() => {});
    process.exit(1);
  }
}

async function serveHere(config: Config, databaseUrl: string): Promise<() => Promise<void>> {
  const tablo = await startTablo(config, databaseUrl, logger);
  console.log(`Tablo is ready at ${tablo.url}`);
  return tablo.stop;
}

/** Forks the workers and resolves once every one listens; a worker that dies is replaced. */
async function startWorkers(config: Config, databaseUrl: string): Promise<() => Promise<void>> {
  let stopping = false;
  const fork = () => cluster.fork({ DATABASE_URL: databaseUrl });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    logger.error({ pid: worker.process.pid, code, signal }, 'worker died; starting another');
    fork();
  });
  const listening = new Promise<string>((resolve, reject) => {
    let count = 0;
    cluster.on('listening', (_worker, address) => {
      if (++count === config.webConcurrency) resolve(shownUrl(address.address, address.port));
    });
    cluster.once('exit', (_worker, code) => count < config.webConcurrency && reject(new Error(`a worker exited with code ${code} while starting`)));
  });
  for (let i = 0; i < config.webConcurrency; i++) fork();
  console.log(`Tablo is ready at ${await listening} (${config.webConcurrency} workers)`);
  return async () => {
    stopping = true;
    await Promise.all(Object.values(cluster.workers ?? {}).map((worker) => worker && stopWorker(worker)));
  };
}

function stopWorker(worker: Worker): Promise<void> {
  return new Promise((resolve) => {
    if (worker.isDead()) return resolve();
    const killed = setTimeout(() => worker.process.kill('SIGKILL'), WORKER_STOP_MS);
    worker.once('exit', () => {
      clearTimeout(killed);
      resolve();
    });
    worker.process.kill('SIGTERM');
  });
}

async function serveAsWorker(config: Config): Promise<void> {
  try {
    const tablo = await startTablo(config, config.databaseUrl!, logger);
    onSignal(tablo.stop);
  } catch (error) {
    console.error(`Tablo worker could not start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  }
}

/** SIGTERM and SIGINT stop cleanly, once, and exit 0. */
function onSignal(stop: () => Promise<void>): void {
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    await stop();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

function shownUrl(host: string | null, port: number): string {
  const shown = !host || ['0.0.0.0', '::', '127.0.0.1'].includes(host) ? 'localhost' : host;
  return `http://${shown}:${port}`;
}
