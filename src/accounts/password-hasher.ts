/**
 * The password hasher's own process (started by passwords.ts): argon2id hashing and verifying
 * at the lowest CPU priority, so that on a busy machine the kernel runs the web server's event
 * loop (live delivery) and PostgreSQL first, and a burst of sign-ins only takes the time they
 * leave idle.
 */
import argon2 from 'argon2';
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import workerpool from 'workerpool';

// OWASP's argon2id recommendation: 19 MiB of memory, 2 iterations, 1 lane.
const options = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/**
 * On Linux a nice value belongs to each thread, and a new thread takes its creator's: argon2
 * runs on libuv's pool threads, which the module loader's thread may have started before this
 * code ran. So every thread of the process is lowered, once the pool exists.
 */
function lowerPriority(): void {
  os.setPriority(os.constants.priority.PRIORITY_LOW);
  if (process.platform !== 'linux') return;
  for (const thread of readdirSync('/proc/self/task')) {
    try {
      os.setPriority(Number(thread), os.constants.priority.PRIORITY_LOW);
    } catch {
      // The thread ended meanwhile.
    }
  }
  // Lower still where util-linux's chrt is there: SCHED_IDLE runs only on a core nothing else
  // wants, and any other thread that wakes takes the core at once (nice 19 still gets a share).
  spawnSync('chrt', ['--idle', '--all-tasks', '--pid', '0', String(process.pid)], { stdio: 'ignore' });
}

lowerPriority();
// Verifying against this when the email is unknown makes both failures take the same time,
// so response times do not reveal which emails have accounts. Hashing it starts libuv's pool.
const decoyHash = argon2.hash('decoy password that never matches', options);
await decoyHash;
lowerPriority();

export function hash(password: string): Promise<string> {
  return argon2.hash(password, options);
}

/** Whether `password` matches `stored`; with no hash (an unknown email), false after as long a wait. */
export async function verify(stored: string | null, password: string): Promise<boolean> {
  try {
    const matches = await argon2.verify(stored ?? (await decoyHash), password);
    return matches && stored !== null;
  } catch {
    return false;
  }
}

// Ctrl-C in a terminal reaches the whole process group: this process ends when the server stops
// it (or exits), so sign-ins still in flight during the server's graceful shutdown finish.
process.on('SIGINT', () => {});

workerpool.worker({ hash, verify });
