import type pg from 'pg';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { stopPasswordHasher } from './accounts/passwords.ts';
import { createSessionStore, loadSessionSecret } from './accounts/sessions.ts';
import { createApp } from './app.ts';
import { AccessCache } from './web/access-cache.ts';
import type { Config } from './config.ts';
import { createDatabase, createPool, type Database } from './db/database.ts';
import { migrateToLatest } from './db/migrate.ts';
import { ReadTracker } from './discussion/read-state.ts';
import { Live } from './live/live.ts';
import { liveRules } from './live-rules.ts';
import { openFileStore } from './files/file-store.ts';
import { sweepPeriodically } from './files/files.ts';
import { pushHandlers } from './notify/deliveries.ts';
import { loadVapidKeys, type VapidKeys } from './notify/push.ts';
import { OutboxWorker } from './outbox/outbox.ts';
import { webhookHandlers } from './webhooks/deliveries.ts';
import { purgeLimitsPeriodically } from './web/limits.ts';
import { createMetrics } from './web/metrics.ts';
import { guardAgainstSlowClients, headerCheckInterval } from './web/timeouts.ts';

const SHUTDOWN_GRACE_MS = 10_000;

export type RunningTablo = {
  url: string;
  server: Server;
  db: Database;
  /** The pool behind `db` (tests count the queries a request makes by its 'acquire' events). */
  pool: pg.Pool;
  live: Live;
  readTracker: ReadTracker;
  outbox: OutboxWorker;
  vapid: VapidKeys;
  /**
   * `/readyz` turns 503 at once; after `shutdownDrainMs` (still serving meanwhile) it stops
   * accepting, lets requests in flight finish, then closes the database pool.
   */
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
  // Held as long as the open streams' recheck: the one bound on how stale access may be.
  const accessCache = new AccessCache(config.accessCheckMs);
  const live = await Live.start({
    db,
    databaseUrl,
    bus: config.realtimeBus,
    keepAliveMs: config.keepAliveMs,
    accessCheckMs: config.accessCheckMs,
    presenceFreshMs: config.presenceFreshMs,
    maxStreamsPerUser: config.maxStreamsPerUser,
    logger,
    registry: metrics.registry,
    rules: liveRules(db),
    accessEnded: (scope) => accessCache.forget(scope),
  });
  const readTracker = new ReadTracker(
    db,
    () => live.readPositions(),
    (moved) => live.readAdvanced(moved),
    (error) => logger.warn({ err: error }, 'saving read positions failed'),
  );
  const fileStore = openFileStore(config.files);
  const vapid = await loadVapidKeys(db, config.vapid);
  // Every instance runs a worker: entries are claimed so that no two run the same attempt.
  const outbox = new OutboxWorker({
    db,
    logger,
    leaseMs: config.outbox.leaseMs,
    firstRetryMs: config.outbox.retryBaseMs,
    maxAttempts: config.outbox.maxAttempts,
    handlers: {
      ...pushHandlers({ db, whoIsHere: (tabloId) => live.whoIsHere(tabloId), vapid }),
      ...webhookHandlers({ db, live, allowPrivateUrls: config.allowPrivateUrls, logger }),
    },
  });
  const app = createApp({
    config,
    fileStore,
    db,
    logger,
    metrics,
    sessionStore,
    sessionSecret: loadSessionSecret(config.sessionSecret, config.dataDir),
    lifecycle,
    live,
    readTracker,
    vapid,
    accessCache,
  });
  const stopPurgingLimits = purgeLimitsPeriodically(db, (error) => logger.warn({ err: error }, 'purging rate limits failed'));
  const stopSweepingFiles = sweepPeriodically(db, fileStore, (error) => logger.warn({ reason: String(error) }, 'sweeping orphaned files failed'));
  const server = createServer({ connectionsCheckingInterval: headerCheckInterval(config.http.headersMs) }, app);
  guardAgainstSlowClients(server, config.http);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  outbox.start();
  const { port } = server.address() as AddressInfo;
  const shownHost = ['0.0.0.0', '::', '127.0.0.1'].includes(config.host) ? 'localhost' : config.host;

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      lifecycle.shuttingDown = true;
      // Load balancers learn from /readyz that we are going; until they have, keep serving.
      if (config.shutdownDrainMs > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainMs));
      // Entries still running when it gives up waiting are run again once their lease runs out.
      const outboxStopped = outbox.stop();
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeIdleConnections();
      // Streams never end by themselves: tell them to come back soon, then let them go.
      live.shutdown();
      const forced = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await closed;
      clearTimeout(forced);
      await stopPasswordHasher();
      stopPurgingLimits();
      stopSweepingFiles();
      await outboxStopped;
      await live.stop();
      await readTracker.stop();
      sessionStore.close();
      await db.destroy();
    })());

  return { url: `http://${shownHost}:${port}`, server, db, pool, live, readTracker, outbox, vapid, stop };
}
