import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, afterEach, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { pino } from 'pino';
import { createDatabase, createPool, type Database } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { enqueue, MAX_ATTEMPTS, type OutboxHandler, OutboxWorker, retryDelayMs } from '../src/outbox/outbox.ts';
import { projectRoot } from '../src/paths.ts';
import { createTestDatabase } from './support/database.ts';
import { eventually } from './support/discussion.ts';

const logger = pino({ level: 'silent' });
let database: { url: string; drop: () => Promise<void> };
let db: Database;
const workers: OutboxWorker[] = [];
const others: Database[] = [];

before(async () => {
  database = await createTestDatabase();
  db = createDatabase(createPool(database.url, logger));
  await migrateToLatest(db);
});
// Each test's workers know only its kinds: none may be left to claim the next test's entries.
afterEach(async () => {
  for (const worker of workers.splice(0)) await worker.stop();
});
after(async () => {
  for (const other of others) await other.destroy();
  await db.destroy();
  await database.drop();
});

function startWorker(handlers: Record<string, OutboxHandler>, options: { db?: Database; leaseMs?: number } = {}): OutboxWorker {
  const worker = new OutboxWorker({ db: options.db ?? db, logger, handlers, pollMs: 50, leaseMs: options.leaseMs });
  workers.push(worker);
  worker.start();
  return worker;
}

async function entry(id: number) {
  return db
    .selectFrom('outbox')
    .select(['status', 'attempts', 'last_error', 'locked_until', sql<number>`extract(epoch from run_at - now())`.as('due_in')])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
}

async function newEntry(kind: string, payload: unknown = {}): Promise<number> {
  await enqueue(db, [{ kind, payload }]);
  const row = await db.selectFrom('outbox').select('id').where('kind', '=', kind).orderBy('id', 'desc').executeTakeFirstOrThrow();
  return row.id;
}

/** Makes a rescheduled entry due now: the test does not wait out the real delays. */
const dueNow = (id: number) => db.updateTable('outbox').set({ run_at: sql`now()` }).where('id', '=', id).execute();

describe('the retry schedule', () => {
  it('retries first within 10 s and spans at least an hour over at least 6 attempts, whatever the jitter', () => {
    assert.ok(MAX_ATTEMPTS >= 6);
    for (const random of [() => 0, () => 0.5, () => 0.999]) {
      assert.ok(retryDelayMs(1, random) <= 10_000, 'first retry within 10 s');
      assert.ok(retryDelayMs(1, random) >= 1_000);
      let span = 0;
      for (let attempt = 1; attempt < MAX_ATTEMPTS; attempt++) {
        const delay = retryDelayMs(attempt, random);
        if (attempt > 1) assert.ok(delay > retryDelayMs(attempt - 1, random), 'delays grow');
        span += delay;
      }
      assert.ok(span >= 3_600_000, `the attempts span ${span} ms`);
    }
    // Jitter: entries that failed together do not all come back together.
    const delays = new Set(Array.from({ length: 20 }, () => retryDelayMs(3)));
    assert.ok(delays.size > 1);
  });

  it('reschedules a failed entry by the schedule, then runs it again', async () => {
    let calls = 0;
    startWorker({
      flaky: async () => {
        if (++calls === 1) throw new Error('receiver answered 500');
      },
    });
    const id = await newEntry('flaky');
    await eventually(async () => (await entry(id)).attempts === 1 && (await entry(id)).locked_until === null, 5_000, 'the first failure');
    const failed = await entry(id);
    assert.equal(failed.status, 'pending');
    assert.equal(failed.last_error, 'receiver answered 500');
    assert.ok(failed.due_in > 3 && failed.due_in <= 6, `due again in ${failed.due_in} s`);
    await dueNow(id);
    await eventually(async () => (await entry(id)).status === 'done', 5_000, 'the retry');
    assert.equal((await entry(id)).attempts, 2);
    assert.equal(calls, 2);
  });
});

describe('dead letters', () => {
  it('keeps an entry that failed every attempt as dead, with its last error, and runs it no more', async () => {
    let calls = 0;
    startWorker({
      doomed: async () => {
        calls++;
        throw new Error(`refused #${calls}`);
      },
    });
    const id = await newEntry('doomed');
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      await eventually(async () => {
        const row = await entry(id);
        return row.attempts === attempt && row.locked_until === null;
      }, 5_000, `attempt ${attempt}`);
      if (attempt < MAX_ATTEMPTS) await dueNow(id);
    }
    const dead = await entry(id);
    assert.equal(dead.status, 'dead');
    assert.equal(dead.last_error, `refused #${MAX_ATTEMPTS}`);
    await dueNow(id);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(calls, MAX_ATTEMPTS);
  });
});

describe('two workers on one database', () => {
  it('never run an entry twice, and write each follow-up once', async () => {
    const runs = new Map<string, number>();
    const byWorker = [0, 0];
    const handler = (worker: number): OutboxHandler => async (e) => {
      const key = `${e.kind}:${(e.payload as { n: number }).n}`;
      runs.set(key, (runs.get(key) ?? 0) + 1);
      byWorker[worker]!++;
      await new Promise((r) => setTimeout(r, Math.random() * 5));
      return e.kind === 'race' ? [{ kind: 'race.next', payload: e.payload }] : [];
    };
    const second = createDatabase(createPool(database.url, logger));
    others.push(second);
    startWorker({ race: handler(0), 'race.next': handler(0) });
    startWorker({ race: handler(1), 'race.next': handler(1) }, { db: second });
    const count = 300;
    await enqueue(db, Array.from({ length: count }, (_, n) => ({ kind: 'race', payload: { n } })));
    const settled = async () => {
      const row = await db
        .selectFrom('outbox')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('kind', 'in', ['race', 'race.next'])
        .where('status', '=', 'done')
        .executeTakeFirstOrThrow();
      return Number(row.n) === 2 * count;
    };
    await eventually(settled, 20_000, 'every entry and follow-up done');
    assert.equal(runs.size, 2 * count);
    assert.deepEqual([...new Set(runs.values())], [1], 'each ran exactly once');
    assert.ok(byWorker[0]! > 0 && byWorker[1]! > 0, `both workers took part (${byWorker.join(' and ')})`);
    const attempts = await db.selectFrom('outbox').select('attempts').distinct().where('kind', 'in', ['race', 'race.next']).execute();
    assert.deepEqual(attempts.map((a) => a.attempts), [1]);
  });
});

describe('a crash', () => {
  it('loses nothing: an entry claimed by a worker killed mid-delivery runs again once its lease runs out', async () => {
    const id = await newEntry('slow', { n: 1 });
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/support/outbox-child.ts', database.url, '2000'], {
      cwd: projectRoot,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    try {
      await new Promise<void>((resolve, reject) => {
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk;
          if (output.includes(`running ${id}\n`)) resolve();
        });
        child.once('exit', () => reject(new Error(`the child exited before running the entry: ${output}`)));
      });
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const claimed = await entry(id);
    assert.equal(claimed.status, 'pending');
    assert.equal(claimed.attempts, 1);
    assert.ok(claimed.locked_until, 'still leased to the dead worker');

    let ranHere = 0;
    startWorker({ slow: async () => void ranHere++ });
    await eventually(async () => (await entry(id)).status === 'done', 10_000, 'the entry run by another worker');
    assert.equal(ranHere, 1);
    assert.equal((await entry(id)).attempts, 2);
  });
});
