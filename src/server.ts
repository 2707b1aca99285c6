import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { createSessionStore, loadSessionSecret } from './accounts/sessions.ts';
import { createApp } from './app.ts';
import type { Config } from './config.ts';
import { createDatabase, createPool, type Database } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { DiscussionBroker } from './discussion/broker.ts';
import { MemoryBus } from './discussion/bus.ts';
import { LocalFanout } from './discussion/fanout.ts';
import { createRealtimeMetrics } from './discussion/metrics.ts';
import { PostgresBus } from './discussion/postgres-bus.ts';
import type { Realtime } from './discussion/discussion.ts';
import { ReadTracker } from './discussion/read-state.ts';
import { createMetrics } from './web/metrics.ts';
import { guardAgainstSlowClients, headerCheckInterval } from './web/timeouts.ts';

const SHUTDOWN_GRACE_MS = 10_000;

export type RunningTablo = {
  url: string;
  server: Server;
  db: Database;
  realtime: Realtime;
  /** Stops accepting, lets requests in flight finish, then closes the database pool. */
  stop: () => Promise<void>;
};

/** Migrations first, then listen: once the port answers, the app is ready to serve pages. */
export async function startTablo(config: Config, databaseUrl: string, logger: Logger): Promise<RunningTablo> {
  const pool = createPool(databaseUrl, logger);
  const db = createDatabase(pool);
  const applied = await migrateToLatest(db);
  if (applied.length) logger.info({ applied }, 'migrations applied');

  const sessionStore = createSessionStore(pool);
  const lifecycle = { shuttingDown: false };
  const metrics = createMetrics();
  const broker = new DiscussionBroker(config.keepAliveMs);
  const realtimeMetrics = createRealtimeMetrics(metrics.registry, broker);
  const fanout = new LocalFanout(db, broker, logger, realtimeMetrics);
  const bus =
    config.realtimeBus === 'postgres'
      ? new PostgresBus(databaseUrl, db, fanout, logger, realtimeMetrics)
      : new MemoryBus(fanout, db);
  if (bus instanceof PostgresBus) await bus.start();
  const realtime: Realtime = {
    broker,
    fanout,
    bus,
    readTracker: new ReadTracker(
      db,
      () => broker.readPositions(),
      (moved) => bus.readAdvanced(moved),
      (error) => logger.warn({ err: error }, 'saving read positions failed'),
    ),
    metrics: realtimeMetrics,
  };
  const app = createApp({
    config,
    db,
    logger,
    metrics,
    sessionStore,
    sessionSecret: loadSessionSecret(config.sessionSecret, config.dataDir),
    lifecycle,
    realtime,
  });
  const server = createServer({ connectionsCheckingInterval: headerCheckInterval(config.http.headersMs) }, app);
  guardAgainstSlowClients(server, config.http);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = ['0.0.0.0', '::', '127.0.0.1'].includes(config.host) ? 'localhost' : config.host;

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      lifecycle.shuttingDown = true;
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeIdleConnections();
      // Streams never end by themselves: tell them to come back soon, then let them go.
      realtime.broker.shutdown();
      const forced = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await closed;
      clearTimeout(forced);
      realtime.broker.stop();
      await realtime.bus.stop();
      await realtime.readTracker.stop();
      sessionStore.close();
      await db.destroy();
    })());

  return { url: `http://${shownHost}:${port}`, server, db, realtime, stop };
}
