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
  ALLOW_PRIVATE_URLS: z.enum(['true', 'false', '']).default('false'),
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
  /** Whether webhooks may target loopback and private addresses (tests, closed networks). */
  allowPrivateUrls: boolean;
  /** Slow-loris limits for the HTTP server (see src/web/timeouts.ts). */
  http: HttpTimeouts;
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
    allowPrivateUrls: e.ALLOW_PRIVATE_URLS === 'true',
    http: {
      headersMs: e.HEADERS_TIMEOUT_MS,
      keepAliveMs: e.HTTP_KEEPALIVE_TIMEOUT_MS,
      minBodyBytesPerSecond: e.MIN_BODY_BYTES_PER_SECOND,
      bodyRateWindowMs: e.BODY_RATE_WINDOW_MS,
    },
    logLevel: e.LOG_LEVEL,
    production: e.NODE_ENV === 'production',
  };
}

function parseTrustProxy(value: string | undefined): number | string | false {
  if (value === undefined || value === '' || value === 'false') return false;
  if (value === 'true') return 1;
  return /^\d+$/.test(value) ? Number(value) : value;
}
