import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type { HttpTimeouts } from './web/timeouts.ts';

const positivePort = z.coerce.number().int().min(1).max(65535);

const environment = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('127.0.0.1'),
  DATABASE_URL: z.string().url().optional(),
  DATA_DIR: z.string().min(1).default('./data'),
  EMBEDDED_PG_PORT: positivePort.default(54329),
  SESSION_SECRET: z.string().min(16, 'SESSION_SECRET must be at least 16 characters').optional(),
  REALTIME_BUS: z.enum(['memory', 'postgres']).default('memory'),
  METRICS_TOKEN: z.string().min(1).optional(),
  TRUST_PROXY: z.string().optional(),
  MAX_STREAMS_PER_USER: z.coerce.number().int().min(0).default(50),
  POST_RATE_LIMIT: z.coerce.number().int().min(0).max(10_000, 'POST_RATE_LIMIT: at most 10000 (0 turns the limit off)').default(120),
  STREAM_KEEPALIVE_MS: z.coerce.number().int().min(100).max(60_000).default(15_000),
  HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(15_000),
  HTTP_KEEPALIVE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  MIN_BODY_BYTES_PER_SECOND: z.coerce.number().int().min(0).default(1024),
  BODY_RATE_WINDOW_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  WEB_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  NODE_ENV: z.string().default('development'),
});

export type Config = {
  port: number;
  host: string;
  databaseUrl: string | undefined;
  dataDir: string;
  embeddedPgPort: number;
  sessionSecret: string | undefined;
  realtimeBus: 'memory' | 'postgres';
  metricsToken: string | undefined;
  /** Express's `trust proxy` value: a hop count, or a list of addresses/subnets. */
  trustProxy: number | string | false;
  /** Open streams one person may hold at once (per instance); 0 = no cap (load tests). */
  maxStreamsPerUser: number;
  /** Messages one person may post in any 60 seconds; 0 = no limit. */
  postRateLimit: number;
  /** How often idle streams get a `: keep-alive` comment (the contract asks for ≤ 20 s). */
  keepAliveMs: number;
  /** Slow-loris limits for the HTTP server (see src/web/timeouts.ts). */
  http: HttpTimeouts;
  /** Worker processes behind one port (node:cluster); more than 1 needs the Postgres bus. */
  webConcurrency: number;
  logLevel: z.infer<typeof environment>['LOG_LEVEL'];
  production: boolean;
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = environment.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  return {
    port: e.PORT,
    host: e.HOST,
    databaseUrl: e.DATABASE_URL,
    dataDir: path.resolve(e.DATA_DIR),
    embeddedPgPort: e.EMBEDDED_PG_PORT,
    sessionSecret: e.SESSION_SECRET,
    realtimeBus: e.REALTIME_BUS,
    metricsToken: e.METRICS_TOKEN,
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    maxStreamsPerUser: e.MAX_STREAMS_PER_USER,
    postRateLimit: e.POST_RATE_LIMIT,
    keepAliveMs: e.STREAM_KEEPALIVE_MS,
    http: {
      headersMs: e.HEADERS_TIMEOUT_MS,
      keepAliveMs: e.HTTP_KEEPALIVE_TIMEOUT_MS,
      minBodyBytesPerSecond: e.MIN_BODY_BYTES_PER_SECOND,
      bodyRateWindowMs: e.BODY_RATE_WINDOW_MS,
    },
    webConcurrency: webConcurrency(e.WEB_CONCURRENCY, e.REALTIME_BUS),
    logLevel: e.LOG_LEVEL,
    production: e.NODE_ENV === 'production',
  };
}

function parseTrustProxy(value: string | undefined): number | string | false {
  if (value === undefined || value === '' || value === 'false') return false;
  if (value === 'true') return 1;
  return /^\d+$/.test(value) ? Number(value) : value;
}

/** Every core with the Postgres bus, else one process; several workers need the Postgres bus to hear each other. */
function webConcurrency(configured: number | undefined, bus: 'memory' | 'postgres'): number {
  if (configured === undefined) return bus === 'postgres' ? availableParallelism() : 1;
  if (configured > 1 && bus !== 'postgres') {
    throw new Error(`WEB_CONCURRENCY=${configured} needs REALTIME_BUS=postgres: with the in-process bus, workers would not hear each other's messages.`);
  }
  return configured;
}
