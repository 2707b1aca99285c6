import { Router } from 'express';
import { sql } from 'kysely';
import type { Database } from '../db/database.ts';

export type Lifecycle = { shuttingDown: boolean };

export function healthRoutes(db: Database, lifecycle: Lifecycle): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  // Ready means: not shutting down (load balancers drain us first) and the database answers.
  router.get('/readyz', async (_req, res) => {
    const ready = !lifecycle.shuttingDown && (await databaseAnswers(db));
    res.status(ready ? 200 : 503).type('text/plain').send(ready ? 'ready' : 'not ready');
  });
  return router;
}

async function databaseAnswers(db: Database): Promise<boolean> {
  try {
    await Promise.race([
      sql`SELECT 1`.execute(db),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 2_000).unref()),
    ]);
    return true;
  } catch {
    return false;
  }
}
