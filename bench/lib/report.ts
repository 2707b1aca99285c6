/**
 * Figures out of runs: medians over repetitions, app/bare ratios, the targets, and the Markdown
 * written into docs/performance.md.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import type { RunResult } from './measure.ts';
import { othersPercent } from './processes.ts';
import { fmt, median, percentile } from './stats.ts';

export type Summary = {
  kind: string;
  subscribers: number;
  messages: number;
  runs: number;
  p50: number;
  p99: number;
  firstP50: number;
  postP50: number;
  rssPerStreamKiB: number;
  cpuMsPerMessage: number;
  openSeconds: number;
  /** Summed over runs. */
  duplicates: number;
  missing: number;
  outOfOrder: number;
  badIds: number;
  resyncs: number;
  endedEarly: number;
  openFailed: number;
  incompleteMessages: number;
  postFailures: number;
  /** Runs whose server never went quiet before its memory was read. */
  unsettled: number;
};

export function summarize(runs: RunResult[]): Summary {
  const first = runs[0]!;
  const total = (pick: (r: RunResult) => number) => runs.reduce((s, r) => s + pick(r), 0);
  return {
    kind: first.kind,
    subscribers: first.scenario.subscribers,
    messages: first.scenario.messages,
    runs: runs.length,
    p50: median(runs.map((r) => percentile(r.lastLatencies, 50))),
    p99: median(runs.map((r) => percentile(r.lastLatencies, 99))),
    firstP50: median(runs.map((r) => percentile(r.firstLatencies, 50))),
    postP50: median(runs.map((r) => percentile(r.postRoundTrips, 50))),
    rssPerStreamKiB: median(runs.map((r) => r.rssPerStreamBytes / 1024)),
    cpuMsPerMessage: median(runs.map((r) => r.serverCpuMsPerMessage)),
    openSeconds: median(runs.map((r) => r.openMs / 1000)),
    duplicates: total((r) => r.duplicates),
    missing: total((r) => r.missing),
    outOfOrder: total((r) => r.outOfOrder),
    badIds: total((r) => r.badIds),
    resyncs: total((r) => r.resyncs),
    endedEarly: total((r) => r.endedEarly),
    openFailed: total((r) => r.openFailed),
    incompleteMessages: total((r) => r.scenario.messages - r.completeMessages),
    postFailures: total((r) => r.postFailures),
    unsettled: runs.filter((r) => !r.settledQuietly).length,
  };
}

/**
 * A target and how it went. `row`: the same, split for the table of every target in
 * docs/performance.md (issue item, measured figure, its baseline, the ratio, the goal).
 */
export type Verdict = { target: string; figure: string; pass: boolean; row?: VerdictRow };
export type VerdictRow = { item: string; measured: string; baseline: string; ratio: string; goal: string };

/**
 * What keeps a latency run from being judged: anything lost, doubled, reordered or refused. Latency
 * is computed over the messages every open stream received, so a run that lost some, or opened
 * fewer streams, would otherwise be judged on the easy part of the work.
 */
export function incompleteness(s: Summary): string[] {
  const counts: Array<[string, number]> = [
    ['duplicates', s.duplicates],
    ['missing', s.missing],
    ['out of order', s.outOfOrder],
    ['bad ids', s.badIds],
    ['resyncs', s.resyncs],
    ['failed opens', s.openFailed],
    ['streams ended early', s.endedEarly],
    ['messages not every stream got', s.incompleteMessages],
    ['failed posts', s.postFailures],
  ];
  return counts.filter(([, n]) => n !== 0).map(([what, n]) => `${s.kind}: ${what} ${n}`);
}

/** What keeps a memory reading from being judged: streams that did not open, or a server that never settled. */
export function unsettledMemory(s: { kind: string; openFailed: number; endedEarly: number; unsettled: number }): string[] {
  const counts: Array<[string, number]> = [
    ['failed opens', s.openFailed],
    ['streams ended early', s.endedEarly],
    ['runs whose memory never settled', s.unsettled],
  ];
  return counts.filter(([, n]) => n !== 0).map(([what, n]) => `${s.kind}: ${what} ${n}`);
}

/** A verdict passes only when its figure meets the target and its runs were exact and complete. */
export function judged(target: string, figure: string, meets: boolean, problems: string[], row?: VerdictRow): Verdict {
  const withRow = row ? { row } : {};
  if (problems.length === 0) return { target, figure, pass: meets, ...withRow };
  return { target, figure: `${figure} — not judged, the run was incomplete (${problems.join('; ')})`, pass: false, ...withRow };
}

const exactlyOnce = (s: Summary) => incompleteness(s).length === 0;

/** The targets Tablo is held to; a miss is reported, never a failure of the process. */
export function verdicts(app: Summary, bare: Summary | undefined, scale: { latencyAt: number; completenessAt: number }): Verdict[] {
  const out: Verdict[] = [];
  if (bare && app.subscribers === scale.latencyAt) {
    const problems = [...incompleteness(app), ...incompleteness(bare)];
    out.push(
      judged(
        `p50 latency at ${app.subscribers} ≤ 2× bare`,
        `${fmt(app.p50)} ms vs ${fmt(bare.p50)} ms = ${fmt(app.p50 / bare.p50, 2)}×`,
        app.p50 <= 2 * bare.p50,
        problems,
      ),
    );
    out.push(
      judged(
        `p99 latency at ${app.subscribers} ≤ 3× bare`,
        `${fmt(app.p99)} ms vs ${fmt(bare.p99)} ms = ${fmt(app.p99 / bare.p99, 2)}×`,
        app.p99 <= 3 * bare.p99,
        problems,
      ),
    );
  }
  if (app.subscribers === scale.completenessAt) {
    out.push({
      target: `at ${app.subscribers} every message reaches everyone exactly once`,
      figure:
        `${app.runs} runs: duplicates ${app.duplicates}, missing ${app.missing}, out of order ${app.outOfOrder}, ` +
        `resyncs ${app.resyncs}, failed opens ${app.openFailed}, streams ended early ${app.endedEarly}, failed posts ${app.postFailures}`,
      pass: exactlyOnce(app),
    });
  }
  if (bare) {
    out.push(
      judged(
        `memory per stream at ${app.subscribers} ≤ 2× bare`,
        `${fmt(app.rssPerStreamKiB)} KiB vs ${fmt(bare.rssPerStreamKiB)} KiB = ${fmt(app.rssPerStreamKiB / bare.rssPerStreamKiB, 2)}×`,
        app.rssPerStreamKiB <= 2 * bare.rssPerStreamKiB,
        [...unsettledMemory(app), ...unsettledMemory(bare)],
      ),
    );
  }
  return out;
}

/** The machine and the version measured (`version`: when not the work tree's HEAD). */
export function machine(version?: string): { lines: string[]; free: string } {
  let free = '';
  try {
    free = execFileSync('free', ['-h'], { encoding: 'utf8' }).trimEnd();
  } catch {
    free = `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB total (free(1) unavailable)`;
  }
  if (!version) {
    try {
      const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
      const dirty = git('status', '--porcelain', '--', 'src', 'views', 'migrations') !== '';
      version = `${git('rev-parse', '--short', 'HEAD')}${dirty ? ' + uncommitted changes in src/, views/ or migrations/' : ''}`;
    } catch {
      // not a git checkout
    }
  }
  return {
    lines: [
      `date: ${new Date().toISOString()}`,
      `tablo: ${version ?? 'unknown'}`,
      `nproc: ${os.availableParallelism()} (${os.cpus()[0]?.model ?? 'unknown CPU'})`,
      `node: ${process.version}`,
      `kernel: ${os.type()} ${os.release()}`,
    ],
    free,
  };
}

export function summaryTable(rows: Summary[]): string {
  const header =
    '| target | subscribers | messages | runs | last-subscriber p50 (ms) | p99 (ms) | first-subscriber p50 (ms) | POST p50 (ms) | RSS / stream (KiB) | server CPU / message (ms) | open all (s) | duplicates | missing |\n' +
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const body = rows.map(
    (s) =>
      `| ${s.kind} | ${s.subscribers} | ${s.messages} | ${s.runs} | ${fmt(s.p50)} | ${fmt(s.p99)} | ${fmt(s.firstP50)} | ${fmt(s.postP50, 2)} | ` +
      `${fmt(s.rssPerStreamKiB)} | ${fmt(s.cpuMsPerMessage, 2)} | ${fmt(s.openSeconds)} | ${s.duplicates} | ${s.missing} |`,
  );
  return [header, ...body].join('\n');
}

export function ratioTable(pairs: Array<{ app: Summary; bare: Summary }>): string {
  const header = '| subscribers | p50 app/bare | p99 app/bare | RSS per stream app/bare | CPU per message app/bare |\n|---:|---:|---:|---:|---:|';
  const body = pairs.map(
    ({ app, bare }) =>
      `| ${app.subscribers} | ${fmt(app.p50 / bare.p50, 2)}× | ${fmt(app.p99 / bare.p99, 2)}× | ` +
      `${fmt(app.rssPerStreamKiB / bare.rssPerStreamKiB, 2)}× | ${fmt(app.cpuMsPerMessage / bare.cpuMsPerMessage, 2)}× |`,
  );
  return [header, ...body].join('\n');
}

export function runsTable(runs: RunResult[]): string {
  const header =
    '| # | target | subscribers | last-subscriber p50 (ms) | p99 (ms) | max (ms) | RSS before → after (MiB) | RSS / stream (KiB) | CPU / msg (ms) | complete | dup | missing | other processes while posting (% of a core) |\n' +
    '|---:|---|---:|---:|---:|---:|---|---:|---:|---|---:|---:|---:|';
  const body = runs.map(
    (r, i) =>
      `| ${i + 1} | ${r.kind} | ${r.scenario.subscribers} | ${fmt(percentile(r.lastLatencies, 50))} | ${fmt(percentile(r.lastLatencies, 99))} | ` +
      `${fmt(percentile(r.lastLatencies, 100))} | ${fmt(r.rssBeforeBytes / 2 ** 20)} → ${fmt(r.rssAfterBytes / 2 ** 20)} | ` +
      `${fmt(r.rssPerStreamBytes / 1024)} | ${fmt(r.serverCpuMsPerMessage, 2)} | ${r.completeMessages}/${r.scenario.messages} | ${r.duplicates} | ${r.missing} | ` +
      `${r.postingCpu ? fmt(othersPercent(r.postingCpu), 0) : '—'} |`,
  );
  return [header, ...body].join('\n');
}
