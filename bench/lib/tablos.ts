/**
 * Many tablos at once (issue 14, item 1's second target): posts spread round-robin over T tablos
 * (topics, for Socket.IO: rooms), R readers on each, a fixed number of posts in flight for a
 * fixed time. Every reader must get exactly its own tablo's messages 1..N, in order. CPU of every
 * party is sampled as in throughput.ts, so the run can say what saturated.
 */
import { CpuWatch, type CpuUse, postgresPidsFor, settle } from './processes.ts';
import { percentile, sum } from './stats.ts';
import { SubscriberPool } from './subscribers.ts';
import { type AppOptions, type Channel, type ServerOptions, startTarget, withDeathNotice, type TargetKind } from './targets.ts';
import { warmUp } from './measure.ts';
import { saturation } from './throughput.ts';

export type TablosPlan = {
  tablos: number;
  readersPerTablo: number;
  /** Subscriber worker processes. */
  workers: number;
  /** Posts in flight at once, over all tablos. */
  concurrency: number;
  durationMs: number;
  /** Server worker processes of app-cluster. */
  processes: number;
};

/** The most message ids a reader is ready for, per tablo (far above what two cores post in a run). */
const MAX_IDS = 2_000;

export type TablosRun = {
  kind: TargetKind;
  plan: TablosPlan;
  opened: number;
  openFailed: number;
  /** Making the tablos and their members (s). */
  setupSeconds: number;
  /** First POST sent → last answer (ms). */
  postingMs: number;
  accepted: number;
  failedPosts: number;
  failures: string[];
  /** Per tablo: the highest number the server gave (their sum = accepted when none was lost or doubled). */
  highestIds: number[];
  /** First POST sent → last delivery (ms). */
  fanOutMs: number;
  deliveries: number;
  expectedDeliveries: number;
  /** Tablos whose every reader got every message. */
  completeTablos: number;
  duplicates: number;
  missing: number;
  outOfOrder: number;
  badIds: number;
  endedEarly: number;
  /** Per message: last reader of its tablo − POST sent (ms). */
  lastLatencies: number[];
  postRoundTrips: number[];
  cpu: CpuUse;
  seconds: number;
};

/** Makes `count` channels, a few at a time (each is a tablo, R invitations and R acceptances). */
async function channels(make: (name: string) => Promise<Channel>, count: number): Promise<Channel[]> {
  const made: Channel[] = new Array<Channel>(count);
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const i = next++;
      made[i] = await make(`bench-tablo-${i + 1}`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(8, count) }, lane));
  return made;
}

export async function measureTablos(kind: TargetKind, plan: TablosPlan, options: AppOptions & ServerOptions, log: (line: string) => void): Promise<TablosRun> {
  const started = performance.now();
  const [target, pool] = await Promise.all([
    startTarget(kind, { ...options, readers: 0, ownReaders: plan.readersPerTablo, processes: plan.processes }),
    SubscriberPool.start(plan.workers),
  ]);
  try {
    await warmUp(await target.channel('warm-up'));
    const setupStarted = performance.now();
    const tablos = await channels(target.channel, plan.tablos);
    const setupSeconds = (performance.now() - setupStarted) / 1000;
    // R streams per tablo, one per reader (Socket.IO and bare: R connections to the room).
    const endpoints = tablos.flatMap((channel, c) =>
      Array.from({ length: plan.readersPerTablo }, (_, r) => ({ ...channel.endpoints[r % channel.endpoints.length]!, channel: c })),
    );
    const open = await pool.open(endpoints.length, endpoints, MAX_IDS, { concurrency: 32, timeoutMs: 30_000, channels: plan.tablos });
    if (open.failed) log(`    ${open.failed} streams failed to open: ${open.failures.join('; ')}`);
    await settle(target.pids);

    const databaseName = target.databaseName;
    const watch = new CpuWatch({
      server: () => target.pids,
      postgres: () => (databaseName ? postgresPidsFor(databaseName) : []),
      readers: () => pool.pids,
      driver: () => [process.pid],
    });
    const stride = MAX_IDS + 1;
    const sentAt = new Float64Array(plan.tablos * stride).fill(Number.NaN);
    const highestIds = new Array<number>(plan.tablos).fill(0);
    const postRoundTrips: number[] = [];
    const failures = new Map<string, number>();
    let accepted = 0;
    let failedPosts = 0;
    let lastAnswer = 0;
    let n = 0;
    const failed = (why: string) => {
      failedPosts++;
      failures.set(why, (failures.get(why) ?? 0) + 1);
    };
    watch.start();
    const postingStarted = performance.timeOrigin + performance.now();
    const stopAt = performance.now() + plan.durationMs;
    await Promise.all(
      Array.from({ length: plan.concurrency }, async () => {
        while (performance.now() < stopAt) {
          const number = ++n;
          const c = number % plan.tablos;
          try {
            const answer = await tablos[c]!.post(number);
            lastAnswer = Math.max(lastAnswer, answer.answeredAt);
            postRoundTrips.push(answer.answeredAt - answer.sentAt);
            if (answer.status !== 201 || answer.id === undefined) failed(`status ${answer.status}`);
            else if (answer.id > MAX_IDS) failed(`more than ${MAX_IDS} messages in one tablo`);
            else {
              accepted++;
              sentAt[c * stride + answer.id] = answer.sentAt;
              highestIds[c] = Math.max(highestIds[c]!, answer.id);
            }
          } catch (error) {
            failed((error as Error).message);
          }
        }
      }),
    );
    const cpu = watch.stop();
    await pool.waitForDeliveries(30_000, highestIds);
    const deliveries = await pool.collect(highestIds);

    const lastLatencies: number[] = [];
    let completeTablos = 0;
    let lastDelivery = 0;
    let delivered = 0;
    for (let c = 0; c < plan.tablos; c++) {
      let complete = true;
      for (let id = 1; id <= highestIds[c]!; id++) {
        const at = c * stride + id;
        const got = deliveries.receivedBy[at] ?? 0;
        delivered += got;
        if (Number.isFinite(deliveries.lastAt[at]!)) lastDelivery = Math.max(lastDelivery, deliveries.lastAt[at]!);
        if (got === plan.readersPerTablo) {
          if (Number.isFinite(sentAt[at]!)) lastLatencies.push(deliveries.lastAt[at]! - sentAt[at]!);
        } else complete = false;
      }
      if (complete) completeTablos++;
    }
    return {
      kind,
      plan,
      opened: open.opened,
      openFailed: open.failed,
      setupSeconds,
      postingMs: lastAnswer - postingStarted,
      accepted,
      failedPosts,
      failures: [...failures].slice(0, 5).map(([why, count]) => `${why} ×${count}`),
      highestIds,
      fanOutMs: lastDelivery - postingStarted,
      deliveries: delivered,
      expectedDeliveries: sum(highestIds) * plan.readersPerTablo,
      completeTablos,
      duplicates: deliveries.duplicates,
      missing: deliveries.missing + open.failed * MAX_IDS,
      outOfOrder: deliveries.outOfOrder,
      badIds: deliveries.badIds,
      endedEarly: deliveries.endedEarly,
      lastLatencies,
      postRoundTrips,
      cpu,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    throw withDeathNotice(target, error);
  } finally {
    await pool.stop();
    await target.stop();
  }
}

export const tablosPerSecond = (r: TablosRun) => r.accepted / (r.postingMs / 1000);

/** Every reader got exactly its tablo's 1..N in order, every post was answered 201, numbers have no gaps. */
export const tablosExact = (r: TablosRun) =>
  r.openFailed === 0 &&
  r.duplicates === 0 &&
  r.missing === 0 &&
  r.outOfOrder === 0 &&
  r.badIds === 0 &&
  r.endedEarly === 0 &&
  r.failedPosts === 0 &&
  sum(r.highestIds) === r.accepted &&
  r.completeTablos === r.plan.tablos;

export const tablosSaturation = (r: TablosRun) => saturation({ cpu: r.cpu, concurrency: r.plan.concurrency, kind: r.kind, database: undefined });

export function describeTablos(r: TablosRun): string {
  const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '—');
  return (
    `${r.accepted} accepted in ${f(r.postingMs / 1000)} s = ${f(tablosPerSecond(r), 0)} msg/s over ${r.plan.tablos} tablos` +
    `${r.failedPosts ? ` (${r.failedPosts} failed: ${r.failures.join('; ')})` : ''} · delivered ${r.deliveries}/${r.expectedDeliveries}` +
    ` · complete tablos ${r.completeTablos}/${r.plan.tablos}${r.duplicates ? `, dup ${r.duplicates}` : ''}${r.missing ? `, missing ${r.missing}` : ''}` +
    `${r.outOfOrder ? `, out of order ${r.outOfOrder}` : ''}${r.badIds ? `, bad ids ${r.badIds}` : ''}${r.endedEarly ? `, ended early ${r.endedEarly}` : ''}` +
    ` · last-reader p50 ${f(percentile(r.lastLatencies, 50))} ms, p99 ${f(percentile(r.lastLatencies, 99))} ms` +
    ` · POST p50 ${f(percentile(r.postRoundTrips, 50))} ms, p99 ${f(percentile(r.postRoundTrips, 99))} ms · setup ${f(r.setupSeconds)} s · ${r.seconds.toFixed(0)} s` +
    `\n      saturated: ${tablosSaturation(r)}`
  );
}
