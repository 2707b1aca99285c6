import { fileURLToPath } from 'node:url';
import workerpool from 'workerpool';
import { HttpError } from '../web/errors.ts';
import type { hash, verify } from './password-hasher.ts';

/**
 * One hash at a time per server process, in a child process at the lowest CPU priority
 * (password-hasher.ts). In libuv's pool, 4 memory-hard hashes at once took both cores from the
 * event loop that writes to the streams: a burst of 50 sign-ins multiplied live delivery's p99.
 * Excess sign-ins wait their turn; past MAX_WAITING the answer is 503 with Retry-After, so a
 * flood cannot grow the queue (and its wait) without bound.
 */
const HASHES_AT_ONCE = 1;
/** About 50-100 ms per hash on an idle core: a wait of a few seconds at most. */
export const MAX_WAITING = 100;
export const BUSY_RETRY_SECONDS = 5;

/** Too many passwords are waiting to be checked: try again in BUSY_RETRY_SECONDS. */
export class HasherBusy extends HttpError {
  constructor() {
    super(503, 'Many people are signing in right now', 'Try again in a few seconds.');
  }
}

let pool: workerpool.Pool | undefined;

function hasher(): workerpool.Pool {
  // Run as TypeScript (tsx) or as compiled JavaScript, like this file.
  const typescript = import.meta.url.endsWith('.ts');
  pool ??= workerpool.pool(fileURLToPath(new URL(`./password-hasher.${typescript ? 'ts' : 'js'}`, import.meta.url)), {
    workerType: 'process',
    maxWorkers: HASHES_AT_ONCE,
    forkOpts: { execArgv: typescript ? ['--import', import.meta.resolve('tsx')] : ['--enable-source-maps'] },
  });
  return pool;
}

function queued(): workerpool.Pool {
  const running = hasher();
  if (running.stats().pendingTasks >= MAX_WAITING) throw new HasherBusy();
  return running;
}

export async function hashPassword(password: string): Promise<string> {
  return await queued().exec<typeof hash>('hash', [password]);
}

/** False for a wrong password, and (after as long a wait) for no hash at all: an unknown email. */
export async function verifyPassword(hash: string | undefined, password: string): Promise<boolean> {
  return await queued().exec<typeof verify>('verify', [hash ?? null, password]);
}

/** Ends the hasher process once the hashes it is running are done; the next hash starts another. */
export async function stopPasswordHasher(): Promise<void> {
  const stopping = pool;
  pool = undefined;
  await stopping?.terminate();
}
