/**
 * Sustained posting: messages per second accepted over HTTP POST (for the app: stored in
 * PostgreSQL) and fanned out to every reader, posting as fast as the server answers with a fixed
 * number of posts in flight, for a fixed time. One step = one concurrency on a fresh channel with
 * fresh readers. While it runs, the CPU of every party is sampled from /proc (server, its
 * PostgreSQL processes, the readers, this driver, the whole machine) and, for the app, what the
 * database's connections are doing (pg_stat_activity), so that the run can say what saturated.
 */
import pg from 'pg';
import { CpuWatch, type CpuUse, postgresPidsFor, settle } from './processes.ts';
import { percentile } from './stats.ts';
import { SubscriberPool } from './subscribers.ts';
import { type AppOptions, databaseServerUrl, isAppKind, type ServerOptions, startTarget, withDeathNotice, type TargetKind } from './targets.ts';
import { warmUp } from './measure.ts';

export type ThroughputPlan = {
  readers: number;
  workers: number;
  /** Posts in flight at once, one list entry per step. */
  concurrency: number[];
  durationMs: number;
};

/** The most message ids a reader is ready for (far above what two cores can post in a step). */
const MAX_IDS = 400_000;

export type DatabaseActivity = {
  samples: number;
  /** Mean number of the database's client connections in each state. */
  active: number;
  /** Active and waiting for a lock (the tablo row every post of one tablo takes FOR UPDATE). */
  waitingOnLock: number;
  /** In a transaction, waiting for the app to send the next statement. */
  idleInTransaction: number;
  /** The statements seen waiting on a lock (their first words), most often first, with the share of samples. */
  waitingStatements: Array<[string, number]>;
  /** The statement last run by connections idle in transaction, most often first. */
  idleInTransactionAfter: Array<[string, number]>;
};

export type ThroughputStep = {
  kind: TargetKind;
  concurrency: number;
  readers: number;
  opened: number;
  /** Posting window: first POST sent → last answer (ms). */
  postingMs: number;
  accepted: number;
  failedPosts: number;
  /** The highest number the server gave a message (= accepted, when none was lost or doubled). */
  highestId: number;
  /** First POST sent → last delivery to the last reader (ms). */
  fanOutMs: number;
  deliveries: number;
  expectedDeliveries: number;
  completeMessages: number;
  duplicates: number;
  missing: number;
  outOfOrder: number;
  endedEarly: number;
  /** Per message: last reader's receipt − its POST sent (ms). */
  lastLatencies: number[];
  postRoundTrips: number[];
  cpu: CpuUse;
  database?: DatabaseActivity;
};

/** Samples pg_stat_activity for one database (from the admin database, so as not to be one of its connections). */
class ActivityWatch {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly totals = { samples: 0, active: 0, waitingOnLock: 0, idleInTransaction: 0 };
  private readonly waiting = new Map<string, number>();
  private readonly idleAfter = new Map<string, number>();
  private busy = false;

  constructor(private readonly databaseName: string) {}

  async start(): Promise<void> {
    this.client = new pg.Client({ connectionString: databaseServerUrl(), connectionTimeoutMillis: 5_000 });
    this.client.on('error', () => {});
    await this.client.connect();
    this.timer = setInterval(() => void this.sample(), 100);
    this.timer.unref();
  }

  async stop(): Promise<DatabaseActivity> {
    clearInterval(this.timer);
    await this.client?.end().catch(() => {});
    const n = Math.max(1, this.totals.samples);
    const top = (counts: Map<string, number>) =>
      [...counts].sort((a, b) => b[1] - a[1]).slice(0, 3).map(([statement, count]): [string, number] => [statement, count / n]);
    return {
      samples: this.totals.samples,
      active: this.totals.active / n,
      waitingOnLock: this.totals.waitingOnLock / n,
      idleInTransaction: this.totals.idleInTransaction / n,
      waitingStatements: top(this.waiting),
      idleInTransactionAfter: top(this.idleAfter),
    };
  }

  private async sample(): Promise<void> {
    if (this.busy || !this.client) return;
    this.busy = true;
    try {
      const { rows } = await this.client.query<{ state: string | null; lock: boolean; query: string }>(
        `SELECT state, wait_event_type = 'Lock' AS lock, left(regexp_replace(query, '\\s+', ' ', 'g'), 60) AS query
           FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`,
        [this.databaseName],
      );
      this.totals.samples++;
      for (const row of rows) {
        if (row.state === 'active') this.totals.active++;
        if (row.state === 'active' && row.lock) {
          this.totals.waitingOnLock++;
          this.waiting.set(row.query, (this.waiting.get(row.query) ?? 0) + 1);
        }
        if (row.state === 'idle in transaction') {
          this.totals.idleInTransaction++;
          this.idleAfter.set(row.query, (this.idleAfter.get(row.query) ?? 0) + 1);
        }
      }
    } catch {
      // a missed sample
    } finally {
      this.busy = false;
    }
  }
}

export async function measureThroughput(
  kind: TargetKind,
  plan: ThroughputPlan,
  options: AppOptions & ServerOptions,
  log: (line: string) => void,
): Promise<ThroughputStep[]> {
  const target = await startTarget(kind, options);
  const steps: ThroughputStep[] = [];
  try {
    await warmUp(await target.channel('warm-up'));
    for (const concurrency of plan.concurrency) {
      const pool = await SubscriberPool.start(plan.workers);
      try {
        const channel = await target.channel(`bench-${concurrency}`);
        const open = await pool.open(plan.readers, channel.endpoints, MAX_IDS, { concurrency: 32, timeoutMs: 30_000 });
        if (open.failed) log(`    ${open.failed} streams failed to open: ${open.failures.join('; ')}`);
        await settle(target.pids);

        const databaseName = target.databaseName;
        const watch = new CpuWatch({
          server: () => target.pids,
          postgres: () => (databaseName ? postgresPidsFor(databaseName) : []),
          readers: () => pool.pids,
          driver: () => [process.pid],
        });
        const activity = databaseName && isAppKind(kind) ? new ActivityWatch(databaseName) : undefined;
        await activity?.start();

        const posters = channel.posters(concurrency);
        const sentAt = new Float64Array(MAX_IDS + 1).fill(Number.NaN);
        const postRoundTrips: number[] = [];
        let accepted = 0;
        let failedPosts = 0;
        let highestId = 0;
        let lastAnswer = 0;
        let n = 0;
        watch.start();
        const postingStarted = performance.timeOrigin + performance.now();
        const stopAt = performance.now() + plan.durationMs;
        await Promise.all(
          posters.map(async (post) => {
            while (performance.now() < stopAt && highestId < MAX_IDS) {
              try {
                const answer = await post(++n);
                lastAnswer = Math.max(lastAnswer, answer.answeredAt);
                postRoundTrips.push(answer.answeredAt - answer.sentAt);
                if (answer.status !== 201 || answer.id === undefined || answer.id > MAX_IDS) {
                  failedPosts++;
                  continue;
                }
                accepted++;
                sentAt[answer.id] = answer.sentAt;
                highestId = Math.max(highestId, answer.id);
              } catch {
                failedPosts++;
              }
            }
          }),
        );
        const cpu = watch.stop();
        const database = await activity?.stop();
        await pool.waitForDeliveries(30_000, highestId);
        const deliveries = await pool.collect(highestId);

        const lastLatencies: number[] = [];
        let completeMessages = 0;
        let lastDelivery = 0;
        let delivered = 0;
        for (let id = 1; id <= highestId; id++) {
          delivered += deliveries.receivedBy[id] ?? 0;
          if (Number.isFinite(deliveries.lastAt[id]!)) lastDelivery = Math.max(lastDelivery, deliveries.lastAt[id]!);
          if (deliveries.streams > 0 && deliveries.receivedBy[id] === deliveries.streams) {
            completeMessages++;
            if (Number.isFinite(sentAt[id]!)) lastLatencies.push(deliveries.lastAt[id]! - sentAt[id]!);
          }
        }
        steps.push({
          kind,
          concurrency,
          readers: plan.readers,
          opened: open.opened,
          postingMs: lastAnswer - postingStarted,
          accepted,
          failedPosts,
          highestId,
          fanOutMs: lastDelivery - postingStarted,
          deliveries: delivered,
          expectedDeliveries: highestId * open.opened,
          completeMessages,
          duplicates: deliveries.duplicates,
          missing: deliveries.missing + open.failed * highestId,
          outOfOrder: deliveries.outOfOrder,
          endedEarly: deliveries.endedEarly,
          lastLatencies,
          postRoundTrips,
          cpu,
          database,
        });
      } finally {
        await pool.stop();
      }
    }
    return steps;
  } catch (error) {
    throw withDeathNotice(target, error);
  } finally {
    await target.stop();
  }
}

/** Messages per second accepted over HTTP (for the app: stored). */
export const acceptedPerSecond = (s: ThroughputStep) => s.accepted / (s.postingMs / 1000);
/** Deliveries per second to the readers, first POST → last delivery. */
export const deliveredPerSecond = (s: ThroughputStep) => s.deliveries / (s.fanOutMs / 1000);
/** Share of one core (100 = one core busy) used by a group over the posting window. */
export const corePercent = (s: { cpu: CpuUse }, group: string) => (100 * (s.cpu.groups[group] ?? 0)) / s.cpu.wallMs;
export const machinePercent = (s: { cpu: CpuUse }) => (100 * s.cpu.machineBusyMs) / s.cpu.wallMs;

/**
 * What ran out, with the evidence. CPU: the server is one Node process whose JavaScript runs on
 * one core, so near 100 % of a core it is the limit; when every core of the machine is busy, the
 * CPU is (whoever uses it). Database: when most posts in flight wait on the lock of the tablo's
 * row (every post of one tablo takes it FOR UPDATE, to number messages in commit order), posts
 * are serialized, and throughput is one over the time the lock is held — a time spent in
 * PostgreSQL, or (when its holder is "idle in transaction") waiting for the app's next statement.
 */
export function saturation(s: Pick<ThroughputStep, 'cpu' | 'concurrency' | 'kind' | 'database'>): string {
  const shares: Array<[string, number]> = [
    ['the server process', corePercent(s, 'server')],
    ['PostgreSQL', corePercent(s, 'postgres')],
    ['the readers', corePercent(s, 'readers')],
    ['the driver (posters)', corePercent(s, 'driver')],
  ];
  const [server, postgres] = [shares[0]![1], shares[1]![1]];
  const machine = machinePercent(s);
  const capacity = 100 * s.cpu.cores;
  const others = machine - shares.reduce((total, [, share]) => total + share, 0);
  const split =
    `${shares.map(([name, share]) => `${name} ${share.toFixed(0)} %`).join(', ')}, other processes ${others.toFixed(0)} % ` +
    `(% of one core; machine ${machine.toFixed(0)} of ${capacity} %)`;
  const limits: string[] = [];
  const db = s.database;
  if (db && s.concurrency > 1 && db.waitingOnLock >= Math.max(1, 0.25 * s.concurrency)) {
    limits.push(
      `database: posts queue on a row lock (${db.waitingOnLock.toFixed(1)} of ${s.concurrency} in flight waiting, on ${statements(db.waitingStatements.slice(0, 1))}); its holder ` +
        (db.idleInTransaction >= 0.5
          ? `mostly idle in transaction (${db.idleInTransaction.toFixed(2)}, after ${statements(db.idleInTransactionAfter.slice(0, 2))}): waiting on the app between statements`
          : `mostly executing`),
    );
  }
  if (server >= 90) limits.push(`${isAppKind(s.kind) ? 'app' : 'server'} CPU (the server process uses a full core)`);
  if (postgres >= 90) limits.push('database CPU');
  if (machine >= 0.9 * capacity) {
    const largest = [...shares].sort((a, b) => b[1] - a[1])[0]![0];
    limits.push(`machine CPU (all ${s.cpu.cores} cores busy; largest share of the bench's: ${largest})`);
  }
  return `${limits.length ? limits.join('; ') : 'nothing saturated (posters wait on round trips)'} — ${split}`;
}

/** Statements with the mean number of connections seen on each. */
export const statements = (list: Array<[string, number]>) =>
  list.length ? list.map(([statement, share]) => `\`${statement}\` ${share.toFixed(2)}`).join(', ') : 'none';

export function describeStep(s: ThroughputStep): string {
  const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '—');
  const db = s.database
    ? ` · db connections: active ${f(s.database.active, 2)}, on a lock ${f(s.database.waitingOnLock, 2)}, idle in transaction ${f(s.database.idleInTransaction, 2)}` +
      `\n      waiting on a lock: ${statements(s.database.waitingStatements)}; idle in transaction after: ${statements(s.database.idleInTransactionAfter)}`
    : '';
  return (
    `${s.concurrency} in flight: ${s.accepted} accepted in ${f(s.postingMs / 1000)} s = ${f(acceptedPerSecond(s), 0)} msg/s` +
    `${s.failedPosts ? ` (${s.failedPosts} failed)` : ''} · delivered ${s.deliveries}/${s.expectedDeliveries} = ${f(deliveredPerSecond(s), 0)}/s` +
    ` · complete ${s.completeMessages}/${s.highestId}${s.duplicates ? `, dup ${s.duplicates}` : ''}${s.missing ? `, missing ${s.missing}` : ''}` +
    `${s.outOfOrder ? `, out of order ${s.outOfOrder}` : ''}${s.endedEarly ? `, ended early ${s.endedEarly}` : ''}` +
    ` · last-reader p50 ${f(percentile(s.lastLatencies, 50))} ms, p99 ${f(percentile(s.lastLatencies, 99))} ms, POST p50 ${f(percentile(s.postRoundTrips, 50))} ms` +
    `${db}\n      saturated: ${saturation(s)}`
  );
}
