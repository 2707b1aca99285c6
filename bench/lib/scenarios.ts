/**
 * The named scenarios of `npm run bench -- --scenario …`: what each runs, the figures it prints,
 * its targets, and the Markdown it writes into docs/performance.md (between its own markers).
 *
 *   stream      the original: Tablo and the bare ceiling at 1,000 and 5,000 streams
 *   instances   Tablo on one instance and on two (REALTIME_BUS=postgres) at 1,000 streams
 *   idle        10,000 idle streams on one server: memory per stream, keep-alive CPU
 *   throughput  sustained posting to 100 readers: messages/s stored and fanned out, what saturates
 *   socketio    Tablo, a Socket.IO room broadcast and the bare ceiling at 1,000 readers
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from './paths.ts';
import { describeIdle, type IdlePlan, type IdleResult, measureIdle } from './idle.ts';
import { describeRun, measure, type RunResult, type Scenario } from './measure.ts';
import { othersPercent, waitForQuietMachine } from './processes.ts';
import { incompleteness, judged, type Summary, summarize, summaryTable, runsTable, unsettledMemory, type Verdict } from './report.ts';
import { fmt, median, percentile } from './stats.ts';
import { type AppOptions, isAppKind, type ServerOptions, type TargetKind } from './targets.ts';
import { burstSignedIn, measurePages, type PageLoad, requestsPerSecond, signInBurst } from './pages.ts';
import { describeTablos, measureTablos, tablosExact, type TablosPlan, tablosPerSecond, type TablosRun, tablosSaturation } from './tablos.ts';
import {
  acceptedPerSecond,
  corePercent,
  deliveredPerSecond,
  describeStep,
  machinePercent,
  measureThroughput,
  saturation,
  type ThroughputPlan,
  type ThroughputStep,
} from './throughput.ts';

export type Common = {
  runs: number;
  options: AppOptions & ServerOptions;
  log: (line: string) => void;
  /** Before each round of runs, wait at most this long for the machine to be quiet (0: never). */
  quietWaitMs: number;
};

/** Before a round: let someone else's burst on a shared machine pass, within a bound. */
export async function quietRound(common: Common, run: number): Promise<void> {
  if (common.quietWaitMs <= 0) return;
  const waited = await waitForQuietMachine(common.quietWaitMs);
  common.log(
    `  (round ${run}: ${waited.quiet ? `machine quiet after ${(waited.ms / 1000).toFixed(0)} s` : `machine still busy after ${(waited.ms / 1000).toFixed(0)} s (${(100 * waited.busyShare).toFixed(0)} % of a core): going on`})`,
  );
}


export type Outcome = {
  /** The Markdown section (without the machine block, which the driver adds). */
  markdown: string;
  /** Printed at the end of the run. */
  summary: string;
  verdicts: Verdict[];
  runs: number;
  /** Everything measured, for --dump. */
  data: unknown;
};

/** The order of the targets in run r: rotated each run, so drift in the machine's load falls on all. */
export const rotation = <T>(items: T[], run: number): T[] => items.map((_, i) => items[(i + run - 1) % items.length]!);

const verdictLine = (v: Verdict) => `${v.pass ? 'PASS' : 'MISS'}  ${v.target}: ${v.figure}`;
const verdictMarkdown = (v: Verdict) => `- **${v.pass ? 'PASS' : 'MISS'}** ${v.target}: ${v.figure}`;
const ratio = (a: number, b: number) => `${fmt(a / b, 2)}×`;

/**
 * The runs of a scenario: `common.runs` rounds, each after a quiet wait, every target once per
 * round in rotating order; each measurement logged as it ends.
 */
async function rounds<R>(kinds: TargetKind[], common: Common, one: (kind: TargetKind) => Promise<R[]>, describe: (r: R) => string): Promise<R[]> {
  const results: R[] = [];
  for (let run = 1; run <= common.runs; run++) {
    await quietRound(common, run);
    for (const kind of rotation(kinds, run)) {
      const measured = await one(kind);
      results.push(...measured);
      for (const result of measured) common.log(`  ${kind.padEnd(11)} run ${run}/${common.runs}: ${describe(result)}`);
    }
  }
  return results;
}

// ——— latency scenarios: instances, socketio (the stream scenario is run.ts's own) ———

async function latencyRuns(kinds: TargetKind[], scenario: Scenario, common: Common): Promise<RunResult[]> {
  return rounds(kinds, common, async (kind) => [await measure(kind, scenario, common.options, common.log)], describeRun);
}

/** Median CPU during posting (server, PostgreSQL), per message, over a target's runs. */
function postingCpuPerMessage(runs: RunResult[], group: string): number {
  return median(runs.map((r) => (r.postingCpu.groups[group] ?? 0) / r.scenario.messages));
}

function latencyRatioTable(pairs: Array<[Summary, Summary]>): string {
  const header =
    '| ratio | last-subscriber p50 | p99 | first-subscriber p50 | RSS per stream | server CPU per message |\n|---|---:|---:|---:|---:|---:|';
  const rows = pairs.map(
    ([a, b]) =>
      `| ${a.kind} / ${b.kind} | ${ratio(a.p50, b.p50)} | ${ratio(a.p99, b.p99)} | ${ratio(a.firstP50, b.firstP50)} | ` +
      `${ratio(a.rssPerStreamKiB, b.rssPerStreamKiB)} | ${ratio(a.cpuMsPerMessage, b.cpuMsPerMessage)} |`,
  );
  return [header, ...rows].join('\n');
}

function cpuSplitTable(kinds: TargetKind[], results: RunResult[]): string {
  const header = '| target | server CPU / message (ms) | PostgreSQL CPU / message (ms) | readers CPU / message (ms) |\n|---|---:|---:|---:|';
  const rows = kinds.map((kind) => {
    const runs = results.filter((r) => r.kind === kind);
    return `| ${kind} | ${fmt(postingCpuPerMessage(runs, 'server'), 2)} | ${fmt(postingCpuPerMessage(runs, 'postgres'), 2)} | ${fmt(postingCpuPerMessage(runs, 'readers'), 2)} |`;
  });
  return [header, ...rows].join('\n');
}

export async function instancesScenario(plan: { subscribers: number; messages: number; rate: number; workers: number; kinds: TargetKind[] }, common: Common): Promise<Outcome> {
  const scenario: Scenario = { subscribers: plan.subscribers, messages: plan.messages, rate: plan.rate, workers: plan.workers, openConcurrency: 64 };
  common.log(`== instances: ${plan.kinds.join(', ')} · ${plan.subscribers} streams × ${plan.messages} messages at ${plan.rate}/s ==`);
  const results = await latencyRuns(plan.kinds, scenario, common);
  const summaries = plan.kinds.flatMap((kind) => {
    const runs = results.filter((r) => r.kind === kind);
    return runs.length ? [summarize(runs)] : [];
  });
  const of = (kind: TargetKind) => summaries.find((s) => s.kind === kind);
  const single = of('app');
  const singlePg = of('app-pg');
  const two = of('app-2x');
  const pairs: Array<[Summary, Summary]> = [];
  if (two && single) pairs.push([two, single]);
  if (two && singlePg) pairs.push([two, singlePg]);
  if (singlePg && single) pairs.push([singlePg, single]);
  const verdicts: Verdict[] = [];
  if (two && single) {
    verdicts.push(
      judged(
        `two instances: post→all-delivered p50 at ${plan.subscribers} readers ≤ 1.5× one instance (REALTIME_BUS=memory)`,
        `${fmt(two.p50)} ms vs ${fmt(single.p50)} ms = ${fmt(two.p50 / single.p50, 2)}×` + (singlePg ? ` (vs one instance on REALTIME_BUS=postgres, ${fmt(singlePg.p50)} ms: ${fmt(two.p50 / singlePg.p50, 2)}×)` : ''),
        two.p50 <= 1.5 * single.p50,
        [...incompleteness(two), ...incompleteness(single)],
      ),
    );
  }
  const completeness = summaries.map(
    (s) => `${s.kind}: duplicates ${s.duplicates}, missing ${s.missing}, out of order ${s.outOfOrder}, failed opens ${s.openFailed}, ended early ${s.endedEarly}`,
  );
  const markdown = [
    `Plan: ${plan.subscribers} streams × ${plan.messages} messages at ${plan.rate} posts/s, one at a time, ${plan.workers} subscriber workers; ` +
      `${common.runs} runs of each target, rotating the order. \`app\` = one instance, REALTIME_BUS=memory (the single-instance baseline); ` +
      `\`app-pg\` = one instance, REALTIME_BUS=postgres; \`app-2x\` = two instances on one database, REALTIME_BUS=postgres, streams alternating ` +
      `between them (half each), every post through instance 1 (so half the streams are fed through NOTIFY → instance 2). ` +
      `For app-2x, RSS and CPU are the sum of both processes.`,
    '',
    '### Medians over runs',
    '',
    summaryTable(summaries),
    '',
    '### Ratios',
    '',
    latencyRatioTable(pairs),
    '',
    '### CPU while posting (medians, all processes of each kind)',
    '',
    cpuSplitTable(plan.kinds, results),
    '',
    `Completeness (summed over runs): ${completeness.join('; ')}.`,
    '',
    '### Targets',
    '',
    ...verdicts.map(verdictMarkdown),
    '',
    '### Every run',
    '',
    runsTable(results),
  ].join('\n');
  const summary = [summaryTable(summaries), '', latencyRatioTable(pairs), '', cpuSplitTable(plan.kinds, results)].join('\n');
  return { markdown, summary, verdicts, runs: results.length, data: results };
}

export async function socketioScenario(plan: { subscribers: number; messages: number; rate: number; workers: number; kinds: TargetKind[] }, common: Common): Promise<Outcome> {
  const scenario: Scenario = { subscribers: plan.subscribers, messages: plan.messages, rate: plan.rate, workers: plan.workers, openConcurrency: 64 };
  common.log(`== socketio: ${plan.kinds.join(', ')} · ${plan.subscribers} readers × ${plan.messages} messages at ${plan.rate}/s ==`);
  const results = await latencyRuns(plan.kinds, scenario, common);
  const summaries = plan.kinds.flatMap((kind) => {
    const runs = results.filter((r) => r.kind === kind);
    return runs.length ? [summarize(runs)] : [];
  });
  const of = (kind: TargetKind) => summaries.find((s) => s.kind === kind);
  const pairs: Array<[Summary, Summary]> = [];
  for (const [a, b] of [['app', 'socketio'], ['app', 'bare'], ['socketio', 'bare']] as const) {
    const x = of(a);
    const y = of(b);
    if (x && y) pairs.push([x, y]);
  }
  const markdown = [
    `Plan: ${plan.subscribers} readers × ${plan.messages} messages at ${plan.rate} posts/s, one at a time, ${plan.workers} subscriber workers; ` +
      `${common.runs} runs of each target, rotating the order; the same method as the stream scenario. ` +
      `Socket.IO ${socketIoVersion()}: readers connect over WebSocket only and join one room; each POST /post does ` +
      `\`io.to(room).emit('message', { id, html })\` with the same fragment as the bare server. "RSS / stream" is per connection.`,
    '',
    '### Medians over runs',
    '',
    summaryTable(summaries),
    '',
    '### Ratios',
    '',
    latencyRatioTable(pairs),
    '',
    '### Every run',
    '',
    runsTable(results),
  ].join('\n');
  const summary = [summaryTable(summaries), '', latencyRatioTable(pairs)].join('\n');
  const verdicts: Verdict[] = [];
  const app = of('app');
  const bare = of('bare');
  if (app && bare) {
    const problems = [...incompleteness(app), ...incompleteness(bare)];
    verdicts.push(
      judged(
        `server CPU per message at ${plan.subscribers} readers ≤ 1.3× bare`,
        `${fmt(app.cpuMsPerMessage, 2)} ms vs ${fmt(bare.cpuMsPerMessage, 2)} ms = ${ratio(app.cpuMsPerMessage, bare.cpuMsPerMessage)}`,
        app.cpuMsPerMessage <= 1.3 * bare.cpuMsPerMessage,
        problems,
        { item: '3', measured: `${fmt(app.cpuMsPerMessage, 2)} ms`, baseline: `bare ${fmt(bare.cpuMsPerMessage, 2)} ms`, ratio: ratio(app.cpuMsPerMessage, bare.cpuMsPerMessage), goal: '≤ 1.3×' },
      ),
      judged(
        `last-reader p99 at ${plan.subscribers} readers ≤ 2× bare`,
        `${fmt(app.p99)} ms vs ${fmt(bare.p99)} ms = ${ratio(app.p99, bare.p99)}`,
        app.p99 <= 2 * bare.p99,
        problems,
        { item: '3', measured: `${fmt(app.p99)} ms`, baseline: `bare ${fmt(bare.p99)} ms`, ratio: ratio(app.p99, bare.p99), goal: '≤ 2×' },
      ),
    );
  }
  const completeMarkdown = [markdown, '', '### Targets', '', ...verdicts.map(verdictMarkdown)].join('\n');
  return { markdown: completeMarkdown, summary, verdicts, runs: results.length, data: results };
}

function socketIoVersion(): string {
  try {
    return (JSON.parse(readFileSync(path.join(projectRoot, 'node_modules', 'socket.io', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return '(version unknown)';
  }
}

// ——— idle ———

type IdleSummary = {
  kind: TargetKind;
  runs: number;
  opened: number;
  openRate: number;
  rssPerStreamKiB: number;
  rssAfterMiB: number;
  ticks: number;
  cpuPerTickMs: number;
  cpuPerStreamTickUs: number;
  /** Share of one core the keep-alives take at the measured interval, and at the default 15 s. */
  corePercentAtInterval: number;
  corePercentAt15s: number;
  postgresIdlePercent: number;
  checkP50: number;
  allAlive: boolean;
  /** Summed over runs, for the memory verdict. */
  openFailed: number;
  endedEarly: number;
  unsettled: number;
};

function summarizeIdle(kind: TargetKind, runs: IdleResult[]): IdleSummary {
  const m = (pick: (r: IdleResult) => number) => median(runs.map(pick));
  const perTick = m((r) => r.cpuPerTickMs);
  const interval = runs[0]!.plan.keepAliveMs;
  return {
    kind,
    runs: runs.length,
    opened: m((r) => r.opened),
    openRate: m((r) => r.opened / (r.openMs / 1000)),
    rssPerStreamKiB: m((r) => r.rssPerStreamBytes / 1024),
    rssAfterMiB: m((r) => r.rssAfterBytes / 2 ** 20),
    ticks: m((r) => r.ticks),
    cpuPerTickMs: perTick,
    cpuPerStreamTickUs: m((r) => r.cpuPerStreamTickUs),
    corePercentAtInterval: (100 * perTick) / interval,
    corePercentAt15s: (100 * perTick) / 15_000,
    postgresIdlePercent: m((r) => (100 * r.postgresIdleCpuMs) / r.windowMs),
    checkP50: m((r) => percentile(r.lastLatencies, 50)),
    allAlive: runs.every((r) => r.openFailed === 0 && r.endedEarly === 0 && r.missing === 0 && r.duplicates === 0 && r.completeMessages === r.plan.messages),
    openFailed: runs.reduce((n, r) => n + Math.max(r.openFailed, r.plan.streams - r.opened), 0),
    endedEarly: runs.reduce((n, r) => n + r.endedEarly, 0),
    unsettled: runs.filter((r) => !r.settledQuietly).length,
  };
}

function idleTable(rows: IdleSummary[], plan: IdlePlan): string {
  const header =
    `| target | runs | streams open | opened per s | RSS / stream (KiB) | RSS with all open (MiB) | ticks in window | CPU per tick, all streams (ms) | per stream and tick (µs) | keep-alive share of a core at ${plan.keepAliveMs / 1000} s | at 15 s | PostgreSQL while idle (% of a core) | ${plan.messages} check messages: last-stream p50 (ms) | every stream alive |\n` +
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|';
  return [
    header,
    ...rows.map(
      (s) =>
        `| ${s.kind} | ${s.runs} | ${s.opened} | ${fmt(s.openRate, 0)} | ${fmt(s.rssPerStreamKiB)} | ${fmt(s.rssAfterMiB)} | ${fmt(s.ticks, 2)} | ${fmt(s.cpuPerTickMs)} | ` +
        `${fmt(s.cpuPerStreamTickUs, 2)} | ${fmt(s.corePercentAtInterval, 2)} % | ${fmt(s.corePercentAt15s, 2)} % | ${fmt(s.postgresIdlePercent, 2)} | ${fmt(s.checkP50)} | ${s.allAlive ? 'yes' : 'NO'} |`,
    ),
  ].join('\n');
}

function idleRunsTable(results: IdleResult[]): string {
  const header =
    '| # | target | opened | open (s) | RSS before → after (MiB) | RSS / stream (KiB) | quiet | CPU baseline → with streams (ms / window) | ticks | ms / tick | µs / stream / tick | check complete | ended early | other processes in the window (% of a core) |\n' +
    '|---:|---|---:|---:|---|---:|---|---|---:|---:|---:|---|---:|---:|';
  return [
    header,
    ...results.map(
      (r, i) =>
        `| ${i + 1} | ${r.kind} | ${r.opened} | ${fmt(r.openMs / 1000)} | ${fmt(r.rssBeforeBytes / 2 ** 20)} → ${fmt(r.rssAfterBytes / 2 ** 20)} | ${fmt(r.rssPerStreamBytes / 1024)} | ` +
        `${r.settledQuietly ? 'yes' : 'no'} | ${fmt(r.baselineCpuMs, 0)} → ${fmt(r.idleCpuMs, 0)} / ${fmt(r.windowMs / 1000)} s | ${fmt(r.ticks, 2)} | ${fmt(r.cpuPerTickMs)} | ` +
        `${fmt(r.cpuPerStreamTickUs, 2)} | ${r.completeMessages}/${r.plan.messages} | ${r.endedEarly} | ${fmt(r.othersIdlePercent, 0)} |`,
    ),
  ].join('\n');
}

export async function idleScenario(plan: IdlePlan & { kinds: TargetKind[] }, common: Common): Promise<Outcome> {
  common.log(
    `== idle: ${plan.kinds.join(', ')} · ${plan.streams} streams (${plan.workers} workers × ${plan.openConcurrency} opening at once), ` +
      `keep-alive every ${plan.keepAliveMs} ms, ${plan.windowMs / 1000} s windows ==`,
  );
  const results = await rounds(plan.kinds, common, async (kind) => [await measureIdle(kind, plan, common.options, common.log)], describeIdle);
  const summaries = plan.kinds.flatMap((kind) => {
    const runs = results.filter((r) => r.kind === kind);
    return runs.length ? [summarizeIdle(kind, runs)] : [];
  });
  const app = summaries.find((s) => isAppKind(s.kind));
  const bare = summaries.find((s) => s.kind === 'bare');
  const verdicts: Verdict[] = [];
  const streams = plan.streams.toLocaleString('en');
  const where = `${plan.processes > 1 ? `${plan.processes} server processes` : 'one server process'}, ${plan.workers} client processes`;
  if (app) {
    verdicts.push({
      target: `${streams} concurrent idle streams on this box (${os.availableParallelism()} cores; ${where}): all open and alive`,
      figure: `${app.opened} open (median), every stream got every check message in every run: ${app.allAlive ? 'yes' : 'no'}`,
      pass: app.allAlive && app.opened === plan.streams,
      row: { item: '5', measured: `${fmt(app.opened, 0)} open, all alive: ${app.allAlive ? 'yes' : 'no'}`, baseline: '—', ratio: '—', goal: `${streams} open and alive` },
    });
    verdicts.push(
      judged(
        `keep-alive CPU for ${streams} idle streams < 5 % of a core (at the app's default 15 s interval)`,
        `${fmt(app.corePercentAt15s, 2)} % of a core at 15 s (measured at ${plan.keepAliveMs / 1000} s: ${fmt(app.corePercentAtInterval, 2)} %, ` +
          `${fmt(app.cpuPerTickMs)} ms per tick for all streams)`,
        app.corePercentAt15s < 5,
        [],
        { item: '5', measured: `${fmt(app.corePercentAt15s, 2)} % of a core`, baseline: bare ? `bare ${fmt(bare.corePercentAt15s, 2)} %` : '—', ratio: bare ? ratio(app.cpuPerTickMs, bare.cpuPerTickMs) : '—', goal: '< 5 % of a core' },
      ),
    );
  }
  if (app && bare) {
    verdicts.push(
      judged(
        `RSS per idle stream at ${streams} streams ≤ 1.3× bare node:http (${where})`,
        `${fmt(app.rssPerStreamKiB)} KiB vs ${fmt(bare.rssPerStreamKiB)} KiB = ${fmt(app.rssPerStreamKiB / bare.rssPerStreamKiB, 2)}×`,
        app.rssPerStreamKiB <= 1.3 * bare.rssPerStreamKiB,
        [...unsettledMemory(app), ...unsettledMemory(bare)],
        { item: '5', measured: `${fmt(app.rssPerStreamKiB)} KiB`, baseline: `bare ${fmt(bare.rssPerStreamKiB)} KiB`, ratio: ratio(app.rssPerStreamKiB, bare.rssPerStreamKiB), goal: '≤ 1.3×' },
      ),
    );
  }
  const ratios = summaries
    .filter((s) => app && s !== app)
    .map(
      (s) =>
        `- ${app!.kind} / ${s.kind}: memory per stream ${ratio(app!.rssPerStreamKiB, s.rssPerStreamKiB)}, keep-alive CPU per stream and tick ${ratio(app!.cpuPerStreamTickUs, s.cpuPerStreamTickUs)}, opening rate ${ratio(app!.openRate, s.openRate)}`,
    );
  const markdown = [
    `Plan: ${streams} streams per run on ${plan.processes > 1 ? `${plan.processes} server worker processes behind one port (WEB_CONCURRENCY=${plan.processes}, the bare server clustered the same way)` : 'one server process'}, ` +
      `opened by ${plan.workers} subscriber workers (${Math.ceil(plan.streams / plan.workers)} sockets each, each worker bound to its own loopback source address 127.0.0.2, 127.0.0.3, …) ` +
      `with ${plan.openConcurrency} opening at once per worker; RSS and CPU are summed over all the server's processes (primary and workers); keep-alive every ` +
      `${plan.keepAliveMs} ms for this scenario (app: STREAM_KEEPALIVE_MS=${plan.keepAliveMs}; bare: the same one-timer keep-alive, KEEPALIVE_MS=${plan.keepAliveMs}` +
      `${plan.kinds.includes('socketio') ? `; Socket.IO: pingInterval=${plan.keepAliveMs}` : ''}); ${common.runs} runs of each target, rotating. Memory per stream = (RSS with all open − RSS before) / open, ` +
      `read once the server is quiet. Keep-alive cost = (server CPU over an idle window of ${plan.windowMs / 1000} s with the streams open − over one of the ` +
      `same length before opening them) / keep-alive ticks in the window (counted by the readers: keep-alives received per stream); ` +
      `CPU is utime + stime from /proc/<pid>/stat (10 ms resolution). Then ${plan.messages} messages, one a second, must reach every stream.`,
    '',
    '### Medians over runs',
    '',
    idleTable(summaries, plan),
    '',
    ...(ratios.length ? ['### Ratios', '', ...ratios, ''] : []),
    '### Targets',
    '',
    ...verdicts.map(verdictMarkdown),
    '',
    '### Every run',
    '',
    idleRunsTable(results),
  ].join('\n');
  return { markdown, summary: [idleTable(summaries, plan), ...ratios].join('\n'), verdicts, runs: results.length, data: results };
}

// ——— throughput ———

type ThroughputSummary = {
  kind: TargetKind;
  concurrency: number;
  runs: number;
  accepted: number;
  delivered: number;
  completeness: number;
  p50: number;
  p99: number;
  postP50: number;
  server: number;
  postgres: number;
  readers: number;
  driver: number;
  others: number;
  machine: number;
  lockWaits: number | undefined;
  idleInTransaction: number | undefined;
  /** The step (run) whose accepted msg/s is the median one: its saturation reading. */
  medianStep: ThroughputStep;
  exact: boolean;
};

function summarizeThroughput(steps: ThroughputStep[]): ThroughputSummary {
  const m = (pick: (s: ThroughputStep) => number) => median(steps.map(pick));
  const sorted = [...steps].sort((a, b) => acceptedPerSecond(a) - acceptedPerSecond(b));
  const db = steps.every((s) => s.database);
  return {
    kind: steps[0]!.kind,
    concurrency: steps[0]!.concurrency,
    runs: steps.length,
    accepted: m(acceptedPerSecond),
    delivered: m(deliveredPerSecond),
    completeness: m((s) => s.deliveries / Math.max(1, s.expectedDeliveries)),
    p50: m((s) => percentile(s.lastLatencies, 50)),
    p99: m((s) => percentile(s.lastLatencies, 99)),
    postP50: m((s) => percentile(s.postRoundTrips, 50)),
    server: m((s) => corePercent(s, 'server')),
    postgres: m((s) => corePercent(s, 'postgres')),
    readers: m((s) => corePercent(s, 'readers')),
    driver: m((s) => corePercent(s, 'driver')),
    others: m((s) => othersPercent(s.cpu)),
    machine: m(machinePercent),
    lockWaits: db ? m((s) => s.database!.waitingOnLock) : undefined,
    idleInTransaction: db ? m((s) => s.database!.idleInTransaction) : undefined,
    medianStep: sorted[Math.ceil(sorted.length / 2) - 1]!,
    exact: steps.every((s) => s.duplicates === 0 && s.missing === 0 && s.outOfOrder === 0 && s.endedEarly === 0 && s.failedPosts === 0 && s.highestId === s.accepted),
  };
}

function throughputTable(rows: ThroughputSummary[], readers: number): string {
  const header =
    `| target | in flight | runs | accepted msg/s | delivered events/s (${readers} readers) | delivered / expected | last-reader p50 (ms) | p99 (ms) | POST p50 (ms) | ` +
    `server CPU | PostgreSQL CPU | readers CPU | driver CPU | other processes | machine (of ${os.availableParallelism() * 100} %) | db connections waiting on a lock | idle in transaction | exactly once |\n` +
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|';
  const pct = (v: number) => `${fmt(v, 0)} %`;
  return [
    header,
    ...rows.map(
      (s) =>
        `| ${s.kind} | ${s.concurrency} | ${s.runs} | ${fmt(s.accepted, 0)} | ${fmt(s.delivered, 0)} | ${fmt(100 * s.completeness, 2)} % | ${fmt(s.p50)} | ${fmt(s.p99)} | ${fmt(s.postP50)} | ` +
        `${pct(s.server)} | ${pct(s.postgres)} | ${pct(s.readers)} | ${pct(s.driver)} | ${pct(s.others)} | ${pct(s.machine)} | ${s.lockWaits === undefined ? '—' : fmt(s.lockWaits, 2)} | ` +
        `${s.idleInTransaction === undefined ? '—' : fmt(s.idleInTransaction, 2)} | ${s.exact ? 'yes' : 'NO'} |`,
    ),
  ].join('\n');
}

function throughputRunsTable(steps: ThroughputStep[]): string {
  const header =
    '| # | target | in flight | accepted | in (s) | msg/s | delivered/s | complete | last-reader p50 (ms) | server % | PostgreSQL % | readers % | machine % | other processes % |\n' +
    '|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|';
  return [
    header,
    ...steps.map(
      (s, i) =>
        `| ${i + 1} | ${s.kind} | ${s.concurrency} | ${s.accepted} | ${fmt(s.postingMs / 1000)} | ${fmt(acceptedPerSecond(s), 0)} | ${fmt(deliveredPerSecond(s), 0)} | ` +
        `${s.completeMessages}/${s.highestId} | ${fmt(percentile(s.lastLatencies, 50))} | ${fmt(corePercent(s, 'server'), 0)} | ${fmt(corePercent(s, 'postgres'), 0)} | ` +
        `${fmt(corePercent(s, 'readers'), 0)} | ${fmt(machinePercent(s), 0)} | ${fmt(othersPercent(s.cpu), 0)} |`,
    ),
  ].join('\n');
}

export async function throughputScenario(plan: ThroughputPlan & { kinds: TargetKind[] }, common: Common): Promise<Outcome> {
  common.log(
    `== throughput: ${plan.kinds.join(', ')} · ${plan.readers} readers, ${plan.concurrency.join(' then ')} posts in flight, ${plan.durationMs / 1000} s each ==`,
  );
  const steps = await rounds(plan.kinds, common, (kind) => measureThroughput(kind, plan, common.options, common.log), describeStep);
  const summaries: ThroughputSummary[] = [];
  for (const kind of plan.kinds) {
    for (const concurrency of plan.concurrency) {
      const of = steps.filter((s) => s.kind === kind && s.concurrency === concurrency);
      if (of.length) summaries.push(summarizeThroughput(of));
    }
  }
  // A target's throughput: its best step (the medians over runs), i.e. where adding posts in flight stopped helping.
  const best = (kind: TargetKind) =>
    summaries.filter((s) => s.kind === kind).sort((a, b) => b.delivered - a.delivered)[0];
  const app = best('app');
  const socketio = best('socketio');
  const bare = best('bare');
  const verdicts: Verdict[] = [];
  const at = (kind: TargetKind, concurrency: number) => summaries.find((s) => s.kind === kind && s.concurrency === concurrency);
  const exactness = (...rows: Array<ThroughputSummary>) =>
    rows.flatMap((s) => (s.exact && s.completeness === 1 ? [] : [`${s.kind} at ${s.concurrency} in flight: not exactly once (${fmt(100 * s.completeness, 2)} % delivered)`]));
  const busiest = Math.max(...plan.concurrency);
  const [app16, io16, app1, io1] = [at('app', busiest), at('socketio', busiest), at('app', 1), at('socketio', 1)];
  if (app16 && io16) {
    verdicts.push(
      judged(
        `persisted msg/s at ${plan.readers} readers, ${busiest} in flight, one tablo ≥ 1.0× Socket.IO's`,
        `${fmt(app16.accepted, 0)} vs ${fmt(io16.accepted, 0)} msg/s = ${ratio(app16.accepted, io16.accepted)}; app saturated: ${saturation(app16.medianStep)}`,
        app16.accepted >= io16.accepted,
        exactness(app16, io16),
        { item: '1', measured: `${fmt(app16.accepted, 0)} msg/s`, baseline: `Socket.IO ${fmt(io16.accepted, 0)} msg/s`, ratio: ratio(app16.accepted, io16.accepted), goal: '≥ 1.0×' },
      ),
    );
  }
  if (app1 && io1) {
    verdicts.push(
      judged(
        `POST p50 at 1 in flight (${plan.readers} readers) ≤ 2× Socket.IO's`,
        `${fmt(app1.postP50, 2)} ms vs ${fmt(io1.postP50, 2)} ms = ${ratio(app1.postP50, io1.postP50)}`,
        app1.postP50 <= 2 * io1.postP50,
        exactness(app1, io1),
        { item: '2', measured: `${fmt(app1.postP50, 2)} ms`, baseline: `Socket.IO ${fmt(io1.postP50, 2)} ms`, ratio: ratio(app1.postP50, io1.postP50), goal: '≤ 2×' },
      ),
    );
  }
  if (app && socketio) {
    verdicts.push(
      judged(
        `fan-out throughput (events delivered per second to ${plan.readers} readers, best step) ≥ Socket.IO's in the same run`,
        `app ${fmt(app.delivered, 0)}/s (${fmt(app.accepted, 0)} msg/s stored, ${app.concurrency} in flight) vs Socket.IO ${fmt(socketio.delivered, 0)}/s ` +
          `(${fmt(socketio.accepted, 0)} msg/s, ${socketio.concurrency} in flight) = ${fmt(app.delivered / socketio.delivered, 2)}×`,
        app.delivered >= socketio.delivered,
        [app, socketio].flatMap((s) => (s.exact && s.completeness === 1 ? [] : [`${s.kind} at ${s.concurrency} in flight: not exactly once (${fmt(100 * s.completeness, 2)} % delivered)`])),
      ),
    );
  }
  const ratios: string[] = [];
  for (const [a, b] of [[app, socketio], [app, bare], [socketio, bare]] as const) {
    if (a && b) ratios.push(`- ${a.kind} / ${b.kind}: ${fmt(a.accepted / b.accepted, 2)}× messages/s, ${fmt(a.delivered / b.delivered, 2)}× delivered events/s (best steps: ${a.concurrency} and ${b.concurrency} in flight)`);
  }
  const saturations = [app, socketio, bare].flatMap((s) => (s ? [`- **${s.kind}** (${s.concurrency} in flight, the median run): ${saturation(s.medianStep)}`] : []));
  const markdown = [
    `Compared: messages per second accepted over HTTP POST and fanned out to ${plan.readers} readers. Each step posts for ${plan.durationMs / 1000} s ` +
      `with a fixed number of posts in flight (${plan.concurrency.join(', ')}; each on a kept-alive connection of its own, as fast as answers come), on a fresh ` +
      `channel with ${plan.readers} fresh readers in ${plan.workers} worker processes. The app's posts are the real route (session, CSRF, membership check, ` +
      `the insert transaction in PostgreSQL, the rendered fragment, fan-out), spread over ${common.options.readers + 1} signed-in people's sessions in one tablo; ` +
      `Socket.IO's and bare's are \`POST /post\` on a plain node:http handler that numbers the message and broadcasts it (no storage). ` +
      `"accepted msg/s" = answered 201 / posting time; "delivered events/s" = deliveries to all readers / (first POST → last delivery). ` +
      `Latency is per message, last reader's receipt − POST sent, so it includes queueing at the server. CPU columns are % of one core over the posting window ` +
      `(utime + stime from /proc/<pid>/stat; PostgreSQL = the app database's backends + the server's shared processes); "machine" is /proc/stat over all cores, ` +
      `so "other processes" = machine − the listed ones. Database connections: mean count of the app database's connections in each state (pg_stat_activity, every 100 ms). ` +
      `${common.runs} runs of each target, rotating.`,
    '',
    '### Medians over runs',
    '',
    throughputTable(summaries, plan.readers),
    '',
    '### Ratios',
    '',
    ...ratios,
    '',
    '### What saturated',
    '',
    ...saturations,
    '',
    '### Targets',
    '',
    ...verdicts.map(verdictMarkdown),
    '',
    '### Every run',
    '',
    throughputRunsTable(steps),
  ].join('\n');
  const summary = [throughputTable(summaries, plan.readers), '', ...ratios, '', ...saturations].join('\n');
  return { markdown, summary, verdicts, runs: steps.length / Math.max(1, plan.concurrency.length), data: steps };
}


// ——— tablos ———

type TablosSummary = {
  kind: TargetKind;
  runs: number;
  accepted: number;
  p50: number;
  p99: number;
  postP50: number;
  postP99: number;
  server: number;
  postgres: number;
  readers: number;
  driver: number;
  others: number;
  exact: boolean;
  /** The run whose msg/s is the median one: its saturation reading. */
  medianRun: TablosRun;
};

function summarizeTablos(runs: TablosRun[]): TablosSummary {
  const m = (pick: (r: TablosRun) => number) => median(runs.map(pick));
  const sorted = [...runs].sort((a, b) => tablosPerSecond(a) - tablosPerSecond(b));
  return {
    kind: runs[0]!.kind,
    runs: runs.length,
    accepted: m(tablosPerSecond),
    p50: m((r) => percentile(r.lastLatencies, 50)),
    p99: m((r) => percentile(r.lastLatencies, 99)),
    postP50: m((r) => percentile(r.postRoundTrips, 50)),
    postP99: m((r) => percentile(r.postRoundTrips, 99)),
    server: m((r) => corePercent(r, 'server')),
    postgres: m((r) => corePercent(r, 'postgres')),
    readers: m((r) => corePercent(r, 'readers')),
    driver: m((r) => corePercent(r, 'driver')),
    others: m((r) => othersPercent(r.cpu)),
    exact: runs.every(tablosExact),
    medianRun: sorted[Math.ceil(sorted.length / 2) - 1]!,
  };
}

function tablosTable(rows: TablosSummary[]): string {
  const pct = (v: number) => `${fmt(v, 0)} %`;
  return [
    '| target | runs | persisted (accepted) msg/s | last-reader p50 (ms) | p99 (ms) | POST p50 (ms) | POST p99 (ms) | server CPU | PostgreSQL CPU | readers CPU | driver CPU | other processes | every reader exactly its 1..N in order |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...rows.map(
      (s) =>
        `| ${s.kind} | ${s.runs} | ${fmt(s.accepted, 0)} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${fmt(s.postP50)} | ${fmt(s.postP99)} | ${pct(s.server)} | ${pct(s.postgres)} | ` +
        `${pct(s.readers)} | ${pct(s.driver)} | ${pct(s.others)} | ${s.exact ? 'yes' : 'NO'} |`,
    ),
  ].join('\n');
}

function tablosRunsTable(runs: TablosRun[]): string {
  return [
    '| # | target | accepted | in (s) | msg/s | failed posts | complete tablos | dup | missing | out of order | last-reader p50 (ms) | POST p99 (ms) | setup (s) | other processes % |',
    '|---:|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    ...runs.map(
      (r, i) =>
        `| ${i + 1} | ${r.kind} | ${r.accepted} | ${fmt(r.postingMs / 1000)} | ${fmt(tablosPerSecond(r), 0)} | ${r.failedPosts} | ${r.completeTablos}/${r.plan.tablos} | ` +
        `${r.duplicates} | ${r.missing} | ${r.outOfOrder} | ${fmt(percentile(r.lastLatencies, 50))} | ${fmt(percentile(r.postRoundTrips, 99))} | ${fmt(r.setupSeconds)} | ${fmt(othersPercent(r.cpu), 0)} |`,
    ),
  ].join('\n');
}

export async function tablosScenario(plan: TablosPlan & { kinds: TargetKind[] }, common: Common): Promise<Outcome> {
  common.log(
    `== tablos: ${plan.kinds.join(', ')} · ${plan.tablos} tablos × ${plan.readersPerTablo} readers, ${plan.concurrency} posts in flight spread over them, ${plan.durationMs / 1000} s ==`,
  );
  const results = await rounds(plan.kinds, common, async (kind) => [await measureTablos(kind, plan, common.options, common.log)], describeTablos);
  const summaries = plan.kinds.flatMap((kind) => {
    const runs = results.filter((r) => r.kind === kind);
    return runs.length ? [summarizeTablos(runs)] : [];
  });
  const socketio = summaries.find((s) => s.kind === 'socketio');
  const verdicts: Verdict[] = summaries
    .filter((s) => isAppKind(s.kind))
    .map((app) => {
      const versus = socketio ? ` (Socket.IO, ${plan.tablos} rooms: ${fmt(socketio.accepted, 0)} msg/s = ${ratio(app.accepted, socketio.accepted)})` : '';
      return judged(
        `${app.kind}${app.kind === 'app-cluster' ? ` (WEB_CONCURRENCY=${plan.processes}, REALTIME_BUS=postgres)` : ''}: ≥ 2,000 persisted msg/s over ${plan.tablos} tablos × ${plan.readersPerTablo} readers`,
        `${fmt(app.accepted, 0)} msg/s${versus}, POST p50 ${fmt(app.postP50)} ms, p99 ${fmt(app.postP99)} ms; ${app.accepted >= 2_000 ? '' : `saturated: ${tablosSaturation(app.medianRun)}`}`,
        app.accepted >= 2_000,
        app.exact ? [] : [`${app.kind}: not every reader got exactly its tablo's messages in order (see the runs)`],
        {
          item: '1',
          measured: `${app.kind} ${fmt(app.accepted, 0)} msg/s`,
          baseline: socketio ? `Socket.IO ${fmt(socketio.accepted, 0)} msg/s` : '—',
          ratio: socketio ? ratio(app.accepted, socketio.accepted) : '—',
          goal: '≥ 2,000 msg/s',
        },
      );
    });
  const saturations = summaries.map((s) => `- **${s.kind}** (the median run): ${tablosSaturation(s.medianRun)}`);
  const ratios = summaries.filter((s) => socketio && s !== socketio).map((s) => `- ${s.kind} / socketio: ${ratio(s.accepted, socketio!.accepted)} msg/s, POST p50 ${ratio(s.postP50, socketio!.postP50)}`);
  const markdown = [
    `Plan: ${plan.tablos} tablos (Socket.IO: rooms, bench/socketio-server.ts \`?topic=\`) with ${plan.readersPerTablo} readers each (${plan.tablos * plan.readersPerTablo} streams in ` +
      `${plan.workers} subscriber workers); ${plan.concurrency} posts in flight for ${plan.durationMs / 1000} s, each to the next tablo round-robin (one kept-alive connection per tablo, ` +
      `the owner's session). \`app-cluster\` = WEB_CONCURRENCY=${plan.processes}, REALTIME_BUS=postgres; \`app-pg\` = one worker, REALTIME_BUS=postgres. ` +
      `msg/s = posts answered 201 (stored) / posting time. Each reader must get exactly its tablo's messages 1..N once each, in order (N = the highest number ` +
      `the server gave in that tablo; a message of another tablo would show as a duplicate or a gap). ${common.runs} runs of each target, rotating.`,
    '',
    '### Medians over runs',
    '',
    tablosTable(summaries),
    '',
    ...(ratios.length ? ['### Ratios', '', ...ratios, ''] : []),
    '### What saturated',
    '',
    ...saturations,
    '',
    '### Targets',
    '',
    ...verdicts.map(verdictMarkdown),
    '',
    '### Every run',
    '',
    tablosRunsTable(results),
  ].join('\n');
  return { markdown, summary: [tablosTable(summaries), '', ...ratios, '', ...saturations].join('\n'), verdicts, runs: results.length, data: results };
}

export { verdictLine, verdictMarkdown };

// ——— pages ———

export type PagesPlan = {
  connections: number;
  durationMs: number;
  /** Messages on the page. */
  messages: number;
  /** The fan-out during the burst: readers, messages at a rate. */
  fanOut: Scenario;
  burst: number;
};

export async function pagesScenario(plan: PagesPlan, common: Common): Promise<Outcome> {
  const burstAt = Math.max(1, Math.round(plan.fanOut.messages / 4));
  common.log(
    `== pages: the discussion page (${plan.messages} messages) at ${plan.connections} connections for ${plan.durationMs / 1000} s vs Express from memory; ` +
      `${plan.burst} sign-ins at once during fan-out to ${plan.fanOut.subscribers} readers (${plan.fanOut.messages} messages at ${plan.fanOut.rate}/s, burst at message ${burstAt}) vs none ==`,
  );
  const loads: PageLoad[] = [];
  const quiet: RunResult[] = [];
  const burst: RunResult[] = [];
  for (let run = 1; run <= common.runs; run++) {
    await quietRound(common, run);
    const measured = await measurePages({ ...plan, appFirst: run % 2 === 1 }, common.options);
    loads.push(...measured);
    for (const r of measured) {
      common.log(
        `  page ${r.kind.padEnd(7)} run ${run}/${common.runs}: ${fmt(requestsPerSecond(r), 0)} req/s, p50 ${fmt(percentile(r.latencies, 50))} ms, p99 ${fmt(percentile(r.latencies, 99))} ms` +
          `${r.errors ? `, ${r.errors} errors` : ''}, ${fmt(r.bytes / 1024)} KiB each`,
      );
    }
    for (const withBurst of run % 2 === 1 ? [false, true] : [true, false]) {
      const result = await measure('app', plan.fanOut, common.options, common.log, withBurst ? signInBurst(plan.burst, burstAt) : undefined);
      (withBurst ? burst : quiet).push(result);
      common.log(`  fan-out${withBurst ? ' + burst' : '        '} run ${run}/${common.runs}: ${describeRun(result)}${result.sideLoad ? `\n      ${result.sideLoad}` : ''}`);
    }
  }
  const pageOf = (kind: PageLoad['kind']) => {
    const of = loads.filter((r) => r.kind === kind);
    return {
      rps: median(of.map(requestsPerSecond)),
      p50: median(of.map((r) => percentile(r.latencies, 50))),
      p99: median(of.map((r) => percentile(r.latencies, 99))),
      errors: of.reduce((n, r) => n + r.errors, 0),
      kib: median(of.map((r) => r.bytes / 1024)),
    };
  };
  const app = pageOf('app');
  const express = pageOf('express');
  const without = summarize(quiet);
  const withBurst = summarize(burst);
  const signedIn = burst.every((r) => burstSignedIn(r.sideLoad, plan.burst));
  const verdicts: Verdict[] = [
    judged(
      `discussion page (${plan.messages} messages, signed in) at ${plan.connections} connections ≥ 0.5× Express serving the same HTML from memory`,
      `${fmt(app.rps, 0)} req/s (p99 ${fmt(app.p99)} ms) vs ${fmt(express.rps, 0)} req/s (p99 ${fmt(express.p99)} ms) = ${ratio(app.rps, express.rps)}`,
      app.rps >= 0.5 * express.rps,
      [app, express].flatMap((s, i) => (s.errors ? [`${i ? 'express' : 'app'}: ${s.errors} failed requests`] : [])),
      { item: '6', measured: `${fmt(app.rps, 0)} req/s, p99 ${fmt(app.p99)} ms`, baseline: `Express ${fmt(express.rps, 0)} req/s, p99 ${fmt(express.p99)} ms`, ratio: ratio(app.rps, express.rps), goal: '≥ 0.5×' },
    ),
    judged(
      `${plan.burst} concurrent sign-ins during fan-out at ${plan.fanOut.subscribers} readers raise last-reader p99 by ≤ 20 %`,
      `p99 ${fmt(withBurst.p99)} ms with the burst vs ${fmt(without.p99)} ms without = ${ratio(withBurst.p99, without.p99)} (p50 ${fmt(withBurst.p50)} vs ${fmt(without.p50)} ms)`,
      withBurst.p99 <= 1.2 * without.p99,
      [...incompleteness(withBurst), ...incompleteness(without), ...(signedIn ? [] : ['not every sign-in of the burst answered 303'])],
      { item: '6', measured: `p99 ${fmt(withBurst.p99)} ms with the burst`, baseline: `${fmt(without.p99)} ms without`, ratio: ratio(withBurst.p99, without.p99), goal: '≤ 1.2×' },
    ),
  ];
  const pageTable = [
    `| server | runs | req/s | p50 (ms) | p99 (ms) | page (KiB) | failed requests |`,
    '|---|---:|---:|---:|---:|---:|---:|',
    `| app (\`GET /tablos/{id}/discussion\`, signed in) | ${common.runs} | ${fmt(app.rps, 0)} | ${fmt(app.p50)} | ${fmt(app.p99)} | ${fmt(app.kib)} | ${app.errors} |`,
    `| Express, the same HTML from memory | ${common.runs} | ${fmt(express.rps, 0)} | ${fmt(express.p50)} | ${fmt(express.p99)} | ${fmt(express.kib)} | ${express.errors} |`,
  ].join('\n');
  const burstTable = summaryTable([
    { ...without, kind: 'fan-out alone' },
    { ...withBurst, kind: `fan-out + ${plan.burst} sign-ins` },
  ]);
  const markdown = [
    `Plan: the discussion page of a tablo with ${plan.messages} messages, signed in as its owner, fetched by ${plan.connections} kept-alive connections ` +
      `(node:http in the driver, one request at a time each) for ${plan.durationMs / 1000} s; then the same for bench/page-server.ts, an Express app answering ` +
      `the HTML the app rendered (fetched once) from memory; the order alternates by round, each after a 0.5 s warm-up. The app is one process (REALTIME_BUS=memory). ` +
      `Sign-in burst: the stream scenario's run (${plan.fanOut.subscribers} readers, ${plan.fanOut.messages} messages at ${plan.fanOut.rate}/s, one at a time), ` +
      `and at message ${burstAt} ${plan.burst} browsers that each did \`GET /login\` beforehand send \`POST /login\` (email, password, \`_csrf\`) at once ` +
      `(the registered people of the run, in turn; argon2id verification); compared with the same run without the burst, alternating. ${common.runs} rounds.`,
    '',
    '### The discussion page',
    '',
    pageTable,
    '',
    '### Fan-out with and without a burst of sign-ins (medians)',
    '',
    burstTable,
    '',
    ...burst.map((r, i) => `- round ${i + 1}: ${r.sideLoad ?? '—'}`),
    '',
    '### Targets',
    '',
    ...verdicts.map(verdictMarkdown),
    '',
    '### Every fan-out run',
    '',
    runsTable([...quiet, ...burst]),
  ].join('\n');
  const summary = [pageTable, '', burstTable].join('\n');
  return { markdown, summary, verdicts, runs: loads.length + quiet.length + burst.length, data: { loads, quiet, burst } };
}
