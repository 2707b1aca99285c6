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
  ACCESS_CHECK_MS: z.coerce.number().int().min(100).max(60_000).default(5_000),
  PRESENCE_FRESH_MS: z.coerce.number().int().min(300).max(600_000).default(30_000),
  SHUTDOWN_DRAIN_MS: z.coerce.number().int().min(0).max(60_000).default(2_000),
  HEADERS_TIMEOUT_MS: z.coerce.number().int().min(100).max(300_000).default(15_000),
  HTTP_KEEPALIVE_TIMEOUT_MS: z.coerce.number().int().min(100).max(600_000).default(5_000),
  MIN_BODY_BYTES_PER_SECOND: z.coerce.number().int().min(0).default(1024),
  BODY_RATE_WINDOW_MS: z.coerce.number().int().min(100).max(600_000).default(30_000),
  WEB_CONCURRENCY: z.coerce.number().int().min(1).max(64).optional(),
  MAX_UPLOAD_MB: z.coerce.number().positive().max(10_240, 'MAX_UPLOAD_MB: at most 10240').default(25),
  S3_BUCKET: z.string().min(1).optional(),
  S3_ENDPOINT: z.string().url().optional(),
  AWS_REGION: z.string().min(1).optional(),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  VAPID_PUBLIC_KEY: z.string().regex(/^[A-Za-z0-9_-]{80,100}$/, 'VAPID_PUBLIC_KEY: a base64url P-256 public key').optional(),
  VAPID_PRIVATE_KEY: z.string().regex(/^[A-Za-z0-9_-]{40,50}$/, 'VAPID_PRIVATE_KEY: a base64url P-256 private key').optional(),
  VAPID_SUBJECT: z.string().regex(/^(mailto:|https:\/\/)\S+$/, 'VAPID_SUBJECT: a mailto: or https: URL').optional(),
  ALLOW_PRIVATE_URLS: z.enum(['true', 'false']).default('false'),
  OUTBOX_RETRY_BASE_MS: z.coerce.number().int().min(1).max(600_000).default(5_000),
  OUTBOX_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(8),
  OUTBOX_LEASE_MS: z.coerce.number().int().min(500).max(3_600_000).default(60_000),
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
  /** How often open streams' sessions and memberships are read again (what announces nothing ends them within this). */
  accessCheckMs: number;
  /** With the Postgres bus: a presence row older than this is a crashed instance's; rows are refreshed every third of it. */
  presenceFreshMs: number;
  /** On SIGTERM, how long `/readyz` answers 503 while everything else is still served, before the server stops accepting. */
  shutdownDrainMs: number;
  /** Slow-loris limits for the HTTP server (see src/web/timeouts.ts). */
  http: HttpTimeouts;
  /** Worker processes behind one port (node:cluster); more than 1 needs the Postgres bus. */
  webConcurrency: number;
  /** Web Push keys from the environment; unset: generated once and kept in the database. */
  vapid: { publicKey: string | undefined; privateKey: string | undefined; subject: string | undefined };
  /** Whether webhooks and push endpoints may be on loopback and private addresses. */
  allowPrivateUrls: boolean;
  /** The outbox's first retry delay (then ×3 each time, ±20 %), its attempts before a dead letter, and how long a claim lasts. */
  outbox: { retryBaseMs: number; maxAttempts: number; leaseMs: number };
  logLevel: z.infer<typeof environment>['LOG_LEVEL'];
  production: boolean;
  /** The largest file accepted, in bytes (`MAX_UPLOAD_MB`). */
  maxUploadBytes: number;
  /** Where attached files are kept: `DATA_DIR/files`, or an S3-compatible bucket. */
  files: FileStorageConfig;
};

export type FileStorageConfig =
  | { kind: 'local'; directory: string }
  | {
      kind: 's3';
      bucket: string;
      /** An S3-compatible server (MinIO, s3rver…): addressed path-style. Unset: AWS itself. */
      endpoint: string | undefined;
      region: string;
      /** Unset: the AWS SDK's own chain (environment, profile, instance role). */
      credentials: { accessKeyId: string; secretAccessKey: string } | undefined;
    };

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = environment.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`Invalid configuration: ${problems}`);
  }
  const e = parsed.data;
  if (Boolean(e.VAPID_PUBLIC_KEY) !== Boolean(e.VAPID_PRIVATE_KEY)) {
    throw new Error('Invalid configuration: set both VAPID_PUBLIC_KEY and VAPID_PRIVATE_KEY, or neither');
  }
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
    accessCheckMs: e.ACCESS_CHECK_MS,
    presenceFreshMs: e.PRESENCE_FRESH_MS,
    shutdownDrainMs: e.SHUTDOWN_DRAIN_MS,
    http: {
      headersMs: e.HEADERS_TIMEOUT_MS,
      keepAliveMs: e.HTTP_KEEPALIVE_TIMEOUT_MS,
      minBodyBytesPerSecond: e.MIN_BODY_BYTES_PER_SECOND,
      bodyRateWindowMs: e.BODY_RATE_WINDOW_MS,
    },
    webConcurrency: webConcurrency(e.WEB_CONCURRENCY, e.REALTIME_BUS),
    vapid: { publicKey: e.VAPID_PUBLIC_KEY, privateKey: e.VAPID_PRIVATE_KEY, subject: e.VAPID_SUBJECT },
    allowPrivateUrls: e.ALLOW_PRIVATE_URLS === 'true',
    outbox: { retryBaseMs: e.OUTBOX_RETRY_BASE_MS, maxAttempts: e.OUTBOX_MAX_ATTEMPTS, leaseMs: e.OUTBOX_LEASE_MS },
    logLevel: e.LOG_LEVEL,
    production: e.NODE_ENV === 'production',
    maxUploadBytes: Math.floor(e.MAX_UPLOAD_MB * 1024 * 1024),
    files: e.S3_BUCKET
      ? {
          kind: 's3',
          bucket: e.S3_BUCKET,
          endpoint: e.S3_ENDPOINT,
          region: e.AWS_REGION ?? 'us-east-1',
          credentials:
            e.AWS_ACCESS_KEY_ID && e.AWS_SECRET_ACCESS_KEY
              ? { accessKeyId: e.AWS_ACCESS_KEY_ID, secretAccessKey: e.AWS_SECRET_ACCESS_KEY }
              : undefined,
        }
      : { kind: 'local', directory: path.join(path.resolve(e.DATA_DIR), 'files') },
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
