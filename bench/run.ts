/**
 * `npm run bench`: how fast and how completely Tablo's discussion stream fans a message out, and
 * what each open stream costs in memory, next to a bare node:http SSE fan-out (the ceiling).
 *
 *   npm run bench                  full run: 1,000 and 5,000 subscribers, 3 runs of each target
 *   npm run bench -- --quick       about a minute: 200 subscribers, one run of each
 *   options: --runs N  --subscribers 1000,5000  --messages 200,100  --rate 20  --workers 2
 *            --targets app,bare  --readers 8  --write / --no-write (docs/performance.md)
 *            --dump results.json (every run, per message)  --server-node-args="--cpu-prof --cpu-prof-dir=/tmp/prof"
 *
 * The pieces: bench/lib/targets.ts starts the servers (the app on a fresh database, the bare
 * server), bench/subscriber-worker.ts holds the streams in child processes, bench/lib/measure.ts
 * runs one measurement, this file repeats them, prints figures and writes the docs.
 * Misses against the targets are printed, never turned into a failing exit code; only a broken
 * run (the bench itself failing) exits non-zero.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { projectRoot } from './lib/paths.ts';
import { cleanUp } from './lib/processes.ts';
import { describeRun, measure, type RunResult, type Scenario } from './lib/measure.ts';
import { machine, ratioTable, runsTable, summarize, type Summary, summaryTable, type Verdict, verdicts } from './lib/report.ts';
import { databaseServerUrl, type TargetKind } from './lib/targets.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    subscribers: { type: 'string' },
    messages: { type: 'string' },
    rate: { type: 'string' },
    workers: { type: 'string' },
    targets: { type: 'string' },
    readers: { type: 'string' },
    'server-node-args': { type: 'string' },
    dump: { type: 'string' },
    write: { type: 'boolean' },
    'no-write': { type: 'boolean' },
  },
  strict: true,
});

const list = (text: string | undefined) => (text ? text.split(',').map((v) => Number(v.trim())) : undefined);
const quick = args.quick;
const subscriberCounts = list(args.subscribers) ?? (quick ? [200] : [1_000, 5_000]);
const messageCounts = list(args.messages) ?? subscriberCounts.map((n) => (quick ? 40 : n >= 5_000 ? 100 : 200));
const runs = Number(args.runs ?? (quick ? 1 : 3));
// Posts per second: 20/s, but at most 25,000 deliveries/s, so that on a 2-core machine the
// fan-out alone (about 20 µs of kernel time per socket write) does not saturate it and every
// figure become queueing: 20/s at 1,000 subscribers, 5/s at 5,000.
const rateFor = (subscribers: number) => Number(args.rate ?? Math.min(20, 25_000 / subscribers));
const readers = Number(args.readers ?? 8);
const serverNodeArgs = args['server-node-args']?.split(' ').filter(Boolean) ?? [];
const kinds = (args.targets?.split(',') ?? ['app', 'bare']) as TargetKind[];
const write = args['no-write'] ? false : (args.write ?? !quick);
// A hard bound on the whole run: whatever hangs, the bench ends and cleans up.
const deadlineMs = quick ? 4 * 60_000 : 25 * 60_000;

for (const kind of kinds) if (kind !== 'app' && kind !== 'bare') throw new Error(`unknown target ${kind}`);
if (subscriberCounts.some((n) => !Number.isInteger(n) || n < 1) || messageCounts.length !== subscriberCounts.length) {
  throw new Error('--subscribers and --messages must be lists of positive integers of the same length');
}

const scenarios: Scenario[] = subscriberCounts.map((subscribers, i) => ({
  subscribers,
  messages: messageCounts[i]!,
  rate: rateFor(subscribers),
  // ~2,500 sockets per worker at most (each process may hold 20,000 descriptors), at least two.
  workers: Number(args.workers ?? Math.max(2, Math.ceil(subscribers / 2_500))),
  openConcurrency: 64,
}));

let interrupted = false;
const stopNow = async (why: string, code: number) => {
  if (interrupted) return;
  interrupted = true;
  console.error(`\n${why}: stopping and cleaning up…`);
  await cleanUp();
  process.exit(code);
};
process.on('SIGINT', () => void stopNow('interrupted', 130));
process.on('SIGTERM', () => void stopNow('terminated', 143));
setTimeout(() => void stopNow(`the bench ran past its ${deadlineMs / 60_000}-minute bound`, 2), deadlineMs).unref();

const info = machine();
console.log('Tablo stream benchmark');
for (const line of info.lines) console.log(`  ${line}`);
console.log(`  database server: ${databaseServerUrl().replace(/\/\/[^@/]*@/, '//…@')}`);
console.log(
  `  plan: ${scenarios.map((s) => `${s.subscribers} subscribers × ${s.messages} messages`).join(', ')}; ` +
    `${scenarios.map((s) => s.rate).join('/')} posts/s one at a time; ${runs} run(s) of ${kinds.join(' and ')}, alternating; ${readers} reader sessions\n`,
);

async function postgresVersion(): Promise<string> {
  const client = new pg.Client({ connectionString: databaseServerUrl(), connectionTimeoutMillis: 5_000 });
  client.on('error', () => {});
  await client.connect();
  try {
    return String((await client.query<{ server_version: string }>('SHOW server_version')).rows[0]?.server_version);
  } finally {
    await client.end();
  }
}

const results: RunResult[] = [];
const started = performance.now();
let failed = false;
let pgVersion = 'unknown';
try {
  if (kinds.includes('app')) pgVersion = await postgresVersion();
  for (const scenario of scenarios) {
    console.log(
      `== ${scenario.subscribers} subscribers, ${scenario.messages} messages at ${scenario.rate}/s, ${scenario.workers} subscriber workers ==`,
    );
    for (let run = 1; run <= runs; run++) {
      // Alternate which goes first, so drift in the machine's load falls on both.
      const order = run % 2 === 1 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        const result = await measure(kind, scenario, { readers, nodeArgs: serverNodeArgs }, (line) => console.log(line));
        results.push(result);
        console.log(`  ${kind.padEnd(4)} run ${run}/${runs}: ${describeRun(result)}`);
      }
    }
  }
} catch (error) {
  failed = true;
  console.error(`\nThe bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await cleanUp();
}

if (args.dump) writeFileSync(args.dump, JSON.stringify(results, null, 1));
if (results.length) {
  const summaries: Summary[] = [];
  const pairs: Array<{ app: Summary; bare: Summary }> = [];
  const allVerdicts: Verdict[] = [];
  for (const scenario of scenarios) {
    const of = (kind: TargetKind) => results.filter((r) => r.kind === kind && r.scenario === scenario);
    const app = of('app').length ? summarize(of('app')) : undefined;
    const bare = of('bare').length ? summarize(of('bare')) : undefined;
    if (app) summaries.push(app);
    if (bare) summaries.push(bare);
    if (app && bare) pairs.push({ app, bare });
    if (app) {
      const largest = Math.max(...subscriberCounts);
      allVerdicts.push(...verdicts(app, bare, { latencyAt: subscriberCounts.includes(1_000) ? 1_000 : subscriberCounts[0]!, completenessAt: largest }));
    }
  }

  const verdictLines = allVerdicts.map((v) => `${v.pass ? 'PASS' : 'MISS'}  ${v.target}: ${v.figure}`);
  console.log(`\n== Summary (medians over runs; latency = last subscriber's receipt − POST sent) ==\n`);
  console.log(summaryTable(summaries));
  if (pairs.length) console.log(`\n${ratioTable(pairs)}`);
  if (verdictLines.length) console.log(`\n${verdictLines.join('\n')}`);
  const minutes = (performance.now() - started) / 60_000;
  const skew = Math.max(...results.map((r) => r.clockSkewMs));
  const noisy = results.filter((r) => !r.settledQuietly).length;
  console.log(`\n${results.length} runs in ${minutes.toFixed(1)} min; clock skew driver↔workers ≤ ${skew.toFixed(2)} ms.`);
  if (noisy) console.log(`${noisy} run(s) never went quiet before memory was read: their RSS figures are less reliable.`);

  if (write && !failed) {
    const section = [
      `Measured ${new Date().toISOString().slice(0, 10)} by \`npm run bench${quick ? ' -- --quick' : ''}\` (${results.length} runs, ${minutes.toFixed(1)} min).`,
      '',
      '```',
      ...info.lines,
      `postgresql: ${pgVersion}`,
      `free -h:`,
      info.free,
      '```',
      '',
      `Clock skew between the driver and the subscriber workers: ≤ ${skew.toFixed(2)} ms.` +
        (noisy ? ` ${noisy} run(s) never went quiet before memory was read.` : ''),
      '',
      `Plan: ${scenarios.map((s) => `${s.subscribers} subscribers × ${s.messages} messages (${s.workers} subscriber workers)`).join('; ')}; ` +
        `${scenarios.map((s) => `${s.rate}`).join(' and ')} posts/s respectively, one at a time; ${runs} runs of each target, alternating; app streams spread over ${readers} signed-in readers.`,
      '',
      '### Medians over runs',
      '',
      summaryTable(summaries),
      '',
      ...(pairs.length ? ['### App / bare', '', ratioTable(pairs), ''] : []),
      '### Targets',
      '',
      ...allVerdicts.map((v) => `- **${v.pass ? 'PASS' : 'MISS'}** ${v.target}: ${v.figure}`),
      '',
      '### Every run',
      '',
      runsTable(results),
    ].join('\n');
    const file = path.join(projectRoot, 'docs', 'performance.md');
    const start = '<!-- bench:results:start -->';
    const end = '<!-- bench:results:end -->';
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      text = `# Performance\n\n## Latest results\n\n${start}\n${end}\n`;
    }
    if (!text.includes(start) || !text.includes(end)) text += `\n## Latest results\n\n${start}\n${end}\n`;
    text = text.slice(0, text.indexOf(start) + start.length) + `\n${section}\n` + text.slice(text.indexOf(end));
    writeFileSync(file, text);
    console.log(`Results written to docs/performance.md.`);
  }
}
process.exit(failed ? 1 : 0);
