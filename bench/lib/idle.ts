/**
 * Many idle streams on one server: what each costs in memory, and what keeping them alive costs
 * in CPU. One run: a fresh server with a short keep-alive interval, its CPU over an idle window
 * with no stream open (the baseline), N streams opened with bounded concurrency, memory read once
 * quiet, its CPU over an idle window of the same length with the N streams (spanning several
 * keep-alive ticks, counted by the readers), then a few messages to check every stream is alive.
 */
import { CpuWatch, cpuMs, othersPercent, postgresPidsFor, rssBytes, settle, sleep } from './processes.ts';
import { percentile, sum } from './stats.ts';
import { SubscriberPool } from './subscribers.ts';
import { type AppOptions, type ServerOptions, startTarget, withDeathNotice, type TargetKind } from './targets.ts';
import { warmUp } from './measure.ts';

export type IdlePlan = {
  streams: number;
  /** Server worker processes (WEB_CONCURRENCY) of app-cluster and bare; 1 for the others. */
  processes: number;
  workers: number;
  /** Streams each worker opens at once. */
  openConcurrency: number;
  keepAliveMs: number;
  /** Length of each idle window (baseline and with streams). */
  windowMs: number;
  /** Messages posted at the end, one a second, to check every stream still gets them. */
  messages: number;
};

export type IdleResult = {
  kind: TargetKind;
  plan: IdlePlan;
  opened: number;
  openFailed: number;
  openFailures: string[];
  openMs: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerStreamBytes: number;
  settledQuietly: boolean;
  /** Server CPU over the idle window without streams, and with them (ms). */
  baselineCpuMs: number;
  idleCpuMs: number;
  /** PostgreSQL (the app's database) over the window with streams (ms). */
  postgresIdleCpuMs: number;
  /** Processes not the bench's over the window with streams (% of one core): the machine's noise. */
  othersIdlePercent: number;
  windowMs: number;
  /** Keep-alives the readers got during the window, per open stream: the ticks it spanned. */
  ticks: number;
  /** (idle − baseline) / ticks: server CPU per keep-alive tick for all streams (ms). */
  cpuPerTickMs: number;
  /** Per stream and tick (µs). */
  cpuPerStreamTickUs: number;
  /** Streams that ended during the run. */
  endedEarly: number;
  completeMessages: number;
  missing: number;
  duplicates: number;
  /** Last stream's receipt − POST sent, per message (ms). */
  lastLatencies: number[];
  seconds: number;
};

export async function measureIdle(
  kind: TargetKind,
  plan: IdlePlan,
  options: AppOptions & ServerOptions,
  log: (line: string) => void,
): Promise<IdleResult> {
  const started = performance.now();
  const [target, pool] = await Promise.all([
    startTarget(kind, { ...options, keepAliveMs: plan.keepAliveMs, processes: plan.processes }),
    SubscriberPool.start(plan.workers),
  ]);
  try {
    await warmUp(await target.channel('warm-up'));
    const channel = await target.channel('bench');
    await settle(target.pids);
    const rssBeforeBytes = sum(target.pids.map(rssBytes));
    const serverCpu = () => sum(target.pids.map(cpuMs));

    let before = serverCpu();
    await sleep(plan.windowMs);
    const baselineCpuMs = serverCpu() - before;

    const open = await pool.open(plan.streams, channel.endpoints, plan.messages, {
      concurrency: plan.openConcurrency,
      timeoutMs: 60_000,
    });
    if (open.failed) log(`    ${open.failed} streams failed to open: ${open.failures.join('; ')}`);
    const quiet = await settle(target.pids, { maxMs: 30_000 });
    const rssAfterBytes = sum(target.pids.map(rssBytes));

    const databaseName = target.databaseName;
    const watch = new CpuWatch({
      server: () => target.pids,
      postgres: () => (databaseName ? postgresPidsFor(databaseName) : []),
      readers: () => pool.pids,
      driver: () => [process.pid],
    });
    const keepAlivesBefore = (await pool.status()).keepAlives;
    watch.start();
    before = serverCpu();
    const windowStarted = performance.now();
    await sleep(plan.windowMs);
    const idleCpuMs = serverCpu() - before;
    const windowMs = performance.now() - windowStarted;
    const windowCpu = watch.stop();
    const postgresIdleCpuMs = windowCpu.groups.postgres ?? 0;
    const status = await pool.status();
    const ticks = open.opened ? (status.keepAlives - keepAlivesBefore) / open.opened : 0;
    // The baseline window has the same length: what the process does anyway (timers, GC).
    const cpuPerTickMs = ticks > 0 ? (idleCpuMs - baselineCpuMs * (windowMs / plan.windowMs)) / ticks : Number.NaN;

    // Still alive? A few messages, one a second; every stream must get each.
    const sentAt: number[] = new Array<number>(plan.messages + 1).fill(Number.NaN);
    for (let n = 1; n <= plan.messages; n++) {
      if (n > 1) await sleep(1_000);
      const answer = await channel.post(n);
      if (answer.status !== 201) throw new Error(`a post answered ${answer.status}`);
      sentAt[answer.id ?? n] = answer.sentAt;
    }
    await pool.waitForDeliveries(15_000);
    const deliveries = await pool.collect();
    const lastLatencies: number[] = [];
    let completeMessages = 0;
    for (let id = 1; id <= plan.messages; id++) {
      if (deliveries.streams > 0 && deliveries.receivedBy[id] === deliveries.streams) {
        completeMessages++;
        lastLatencies.push(deliveries.lastAt[id]! - sentAt[id]!);
      }
    }
    return {
      kind,
      plan,
      opened: open.opened,
      openFailed: open.failed,
      openFailures: open.failures,
      openMs: open.ms,
      rssBeforeBytes,
      rssAfterBytes,
      rssPerStreamBytes: open.opened ? (rssAfterBytes - rssBeforeBytes) / open.opened : Number.NaN,
      settledQuietly: quiet.quiet,
      baselineCpuMs,
      idleCpuMs,
      postgresIdleCpuMs,
      othersIdlePercent: othersPercent(windowCpu),
      windowMs,
      ticks,
      cpuPerTickMs,
      cpuPerStreamTickUs: open.opened ? (cpuPerTickMs * 1000) / open.opened : Number.NaN,
      endedEarly: deliveries.endedEarly,
      completeMessages,
      missing: deliveries.missing + open.failed * plan.messages,
      duplicates: deliveries.duplicates,
      lastLatencies,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    throw withDeathNotice(target, error);
  } finally {
    await pool.stop();
    await target.stop();
  }
}

export function describeIdle(r: IdleResult): string {
  const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '—');
  return (
    `opened ${r.opened}/${r.plan.streams} in ${f(r.openMs / 1000)} s (${f(r.opened / (r.openMs / 1000), 0)}/s) · ` +
    `RSS ${f(r.rssBeforeBytes / 2 ** 20)} → ${f(r.rssAfterBytes / 2 ** 20)} MiB = ${f(r.rssPerStreamBytes / 1024)} KiB/stream` +
    `${r.settledQuietly ? '' : ' (never quiet)'} · idle CPU ${f(r.baselineCpuMs, 0)} → ${f(r.idleCpuMs, 0)} ms over ${f(r.windowMs / 1000)} s, ` +
    `${f(r.ticks, 2)} ticks: ${f(r.cpuPerTickMs)} ms/tick, ${f(r.cpuPerStreamTickUs, 2)} µs/stream/tick · ` +
    `check ${r.completeMessages}/${r.plan.messages} complete, last p50 ${f(percentile(r.lastLatencies, 50))} ms` +
    `${r.missing ? `, missing ${r.missing}` : ''}${r.endedEarly ? `, ended early ${r.endedEarly}` : ''} · ${r.seconds.toFixed(0)} s`
  );
}
