import express from 'express';
import type session from 'express-session';
import { pinoHttp } from 'pino-http';
import type { Logger } from 'pino';
import { loadCurrentUser } from './accounts/current-user.ts';
import { accountRoutes } from './accounts/routes.ts';
import { API_PREFIX, apiRoutes, apiStreamRoutes } from './api/routes.ts';
import { botRoutes } from './bots/routes.ts';
import { settingsRoutes } from './accounts/settings-routes.ts';
import { RememberingSessionStore, sessionMiddleware } from './accounts/sessions.ts';
import { streamSignIn } from './accounts/stream-session.ts';
import type { Config } from './config.ts';
import type { Database } from './db/database.ts';
import type { ReadTracker } from './discussion/read-state.ts';
import { discussionRoutes, discussionStreamRoutes } from './discussion/routes.ts';
import { fileRoutes } from './files/routes.ts';
import type { FileStore } from './files/store.ts';
import { homeRoutes, personalStreamRoutes } from './home/routes.ts';
import type { Live } from './live/live.ts';
import type { VapidKeys } from './notify/push.ts';
import { installRoutes, notificationRoutes } from './notify/routes.ts';
import { htmxDistDir, staticDir } from './paths.ts';
import { peopleRoutes } from './people/routes.ts';
import { searchRoutes } from './search/routes.ts';
import { invitationRoutes } from './tablos/invitation-routes.ts';
import { tabloRoutes } from './tablos/routes.ts';
import type { AccessCache } from './web/access-cache.ts';
import { csrfProtection } from './web/csrf.ts';
import { handleErrors, pageNotFound } from './web/errors.ts';
import { healthRoutes, type Lifecycle } from './web/health.ts';
import { postingLimit } from './web/limits.ts';
import { type Metrics, metricsRoute } from './web/metrics.ts';
import { securityHeaders } from './web/security.ts';

export type AppDeps = {
  config: Pick<Config, 'trustProxy' | 'metricsToken' | 'production' | 'postRateLimit' | 'maxUploadBytes' | 'allowPrivateUrls'>;
  fileStore: FileStore;
  db: Database;
  logger: Logger;
  metrics: Metrics;
  sessionStore: session.Store;
  sessionSecret: string;
  lifecycle: Lifecycle;
  live: Live;
  readTracker: ReadTracker;
  vapid: VapidKeys;
  /** Sessions, people, memberships and tokens remembered briefly (forgotten on every revocation). */
  accessCache: AccessCache;
};

const POST_MESSAGE_PATH = /^\/tablos\/[^/]+\/discussion\/messages$/;

export function createApp(deps: AppDeps): express.Express {
  const { config, db, logger, metrics } = deps;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', config.trustProxy);

  // Shutting down: answer what is asked on kept-alive connections, and close them after.
  app.use((_req, res, next) => {
    if (deps.lifecycle.shuttingDown) res.setHeader('Connection', 'close');
    next();
  });
  app.use(securityHeaders);
  const discussion = {
    db,
    live: deps.live,
    readTracker: deps.readTracker,
    posting: postingLimit(db, config.postRateLimit),
    files: { store: deps.fileStore, maxFileBytes: config.maxUploadBytes },
    access: deps.accessCache,
  };
  // What requests read of sessions is remembered briefly (see AccessCache). The discussion's stream
  // may use it: once subscribed, it reads its session and membership from the tables anyway
  // (newestSeqFor), before its headers. A person's own stream has no such read: it asks the store.
  const sessions = new RememberingSessionStore(deps.sessionStore, deps.accessCache);
  const api = { db, live: deps.live, posting: discussion.posting, logger, files: discussion.files, access: deps.accessCache };
  app.use(API_PREFIX, apiStreamRoutes(api));
  app.use(discussionStreamRoutes(discussion, streamSignIn(db, sessions, deps.sessionSecret, deps.accessCache)));
  app.use(personalStreamRoutes(deps.live, streamSignIn(db, deps.sessionStore, deps.sessionSecret, deps.accessCache)));

  app.use(metrics.timeRequests);
  app.use(pinoHttp({ logger, autoLogging: { ignore: (req) => /^\/(static|healthz|readyz)/.test(req.url ?? '') } }));

  app.use(healthRoutes(db, deps.lifecycle));
  app.get('/metrics', metricsRoute(metrics, config.metricsToken));
  // Only the htmx files the pages load, not the whole package folder.
  for (const file of ['htmx.min.js', 'htmx.min.js.map', 'ext/hx-sse.min.js', 'ext/hx-sse.min.js.map']) {
    app.get(`/static/htmx/${file}`, (_req, res) => {
      res.sendFile(file, { root: htmxDistDir, maxAge: config.production ? '7d' : 0 });
    });
  }
  app.use('/static', express.static(staticDir, { maxAge: config.production ? '1h' : 0 }));
  app.use(installRoutes(config.production));

  // The API signs in with tokens only: ahead of the session and CSRF middleware, it never reads a cookie.
  app.use(API_PREFIX, apiRoutes(api));

  // Over 64 KiB: 413 before anything else looks at the request.
  app.use(express.urlencoded({ extended: false, limit: '64kb' }));
  app.use(sessionMiddleware(sessions, deps.sessionSecret));
  // The composer's POST streams its multipart body (files) itself: see receiveUpload.
  app.use(csrfProtection(deps.sessionSecret, (req) => POST_MESSAGE_PATH.test(req.path)));
  app.use(loadCurrentUser(db, deps.accessCache));

  app.get('/', (_req, res) => {
    res.redirect(303, res.locals.currentUser ? '/tablos' : '/login');
  });
  // First: posting is the request a person makes most, and each router it passes costs a walk of its routes.
  app.use(discussionRoutes(discussion));
  app.use(
    accountRoutes(db, {
      // Signing out ends that session's open streams at once (on every instance).
      onSignOut: (sessionId) => deps.live.sessionEnded(sessionId),
    }),
  );
  app.use(settingsRoutes(db, deps.live, deps.accessCache));
  app.use(homeRoutes(db, deps.live));
  app.use(tabloRoutes(db, deps.live));
  app.use(invitationRoutes(db, deps.live));
  app.use(botRoutes(db, deps.live, { allowPrivateUrls: config.allowPrivateUrls }));
  app.use(searchRoutes(db));
  app.use(peopleRoutes(db));
  app.use(fileRoutes(db, deps.fileStore));
  app.use(notificationRoutes(db, { vapid: deps.vapid, allowPrivateUrls: config.allowPrivateUrls }));

  app.use(pageNotFound);
  app.use(handleErrors(logger));
  return app;
}
