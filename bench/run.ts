/**
 * `npm run bench`: how fast and how completely Tablo's discussion stream fans a message out, and
 * what each open stream costs, next to a bare node:http SSE fan-out (the ceiling) and a Socket.IO
 * room broadcast (what a Node developer would pick instead).
 *
 *   npm run bench                                  the stream scenario: 1,000 and 5,000 subscribers, 3 runs of app and bare
 *   npm run bench -- --scenario instances          one instance vs two (REALTIME_BUS=postgres) at 1,000
 *   npm run bench -- --scenario idle               10,000 idle streams: memory per stream, keep-alive CPU (--subscribers 30000: two workers)
 *   npm run bench -- --scenario throughput         sustained posting to 100 readers: msg/s, what saturates
 *   npm run bench -- --scenario socketio           app vs Socket.IO vs bare at 1,000 readers
 *   npm run bench -- --scenario tablos             100 tablos × 10 readers of their own: persisted msg/s
 *   npm run bench -- --scenario pages              the discussion page vs Express from memory; 50 sign-ins during fan-out
 *   npm run bench -- --scenario all                every scenario (idle at 30,000), ~26 min here; --write rewrites docs/performance.md
 *   npm run bench -- --scenario idle,throughput    several, in that order
 *   … --quick                                      a smoke test of the chosen scenarios (small sizes, one run)
 *
 *   common:      --runs N  --readers 8  --workers N  --targets app,bare,…  --app-ref REF  --server-node-args="…"
 *                --quiet-wait 30 (s, before each round; 0 = never)  --dump results.json  --write / --no-write (docs/performance.md)
 *   stream:      --subscribers 1000,5000  --messages 200,100  --rate 20
 *   instances, socketio: --subscribers 1000  --messages 200  --rate 20
 *   idle:        --subscribers 10000  --keepalive-ms 2000  --window 8 (s)  --open-concurrency 16
 *   throughput:  --subscribers 100 (readers)  --concurrency 1,4,16  --duration 6 (s)
 *
 * The pieces: bench/lib/targets.ts starts the servers (the app on a fresh database, one or two
 * instances; the bare server; the Socket.IO server), bench/subscriber-worker.ts holds the streams
 * in child processes, bench/lib/measure.ts, idle.ts and throughput.ts run one measurement each,
 * bench/lib/scenarios.ts repeats them and makes the figures, this file runs the scenarios asked
 * for and writes their sections of docs/performance.md. Misses against the targets are printed,
 * never turned into a failing exit code; only a broken run (the bench itself failing) exits
 * non-zero. Whatever happens (failure, Ctrl-C, the time bound), the processes and databases it
 * started are ended and dropped.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { type Section, writeDocument, writeSection } from './lib/document.ts';
import { cleanUp } from './lib/processes.ts';
import { describeRun, measure, type RunResult, type Scenario } from './lib/measure.ts';
import { machine, ratioTable, runsTable, summarize, type Summary, summaryTable, type Verdict, verdicts } from './lib/report.ts';
import { type Common, idleScenario, instancesScenario, type Outcome, pagesScenario, quietRound, rotation, socketioScenario, tablosScenario, throughputScenario, verdictLine } from './lib/scenarios.ts';
import { appSnapshot, databaseServerUrl, isAppKind, TARGET_KINDS, type TargetKind } from './lib/targets.ts';

const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string' },
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    subscribers: { type: 'string' },
    messages: { type: 'string' },
    rate: { type: 'string' },
    workers: { type: 'string' },
    targets: { type: 'string' },
    readers: { type: 'string' },
    'keepalive-ms': { type: 'string' },
    window: { type: 'string' },
    'open-concurrency': { type: 'string' },
    concurrency: { type: 'string' },
    duration: { type: 'string' },
    processes: { type: 'string' },
    tablos: { type: 'string' },
    connections: { type: 'string' },
    'app-ref': { type: 'string' },
    'quiet-wait': { type: 'string' },
    'server-node-args': { type: 'string' },
    dump: { type: 'string' },
    write: { type: 'boolean' },
    'no-write': { type: 'boolean' },
  },
  strict: true,
});

const SCENARIOS = ['stream', 'instances', 'idle', 'throughput', 'socketio', 'tablos', 'pages'] as const;
type ScenarioName = (typeof SCENARIOS)[number];
const requested = (args.scenario ?? 'stream').split(',').map((s) => s.trim());
/** `--scenario all`: every scenario, at the sizes of the full run that rewrites docs/performance.md. */
const all = requested.includes('all');
const scenarioNames: ScenarioName[] = all
  ? [...SCENARIOS]
  : requested.map((name) => {
      if (!(SCENARIOS as readonly string[]).includes(name)) throw new Error(`unknown scenario ${name}: choose from ${SCENARIOS.join(', ')}, all`);
      return name as ScenarioName;
    });
if (scenarioNames.length > 1 && (args.subscribers || args.messages || args.targets)) {
  throw new Error('--subscribers, --messages and --targets apply to one scenario at a time');
}

const list = (text: string | undefined) => (text ? text.split(',').map((v) => Number(v.trim())) : undefined);
const quick = args.quick;
const runs = Number(args.runs ?? (quick ? 1 : 3));
const readers = Number(args.readers ?? 8);
const serverNodeArgs = args['server-node-args']?.split(' ').filter(Boolean) ?? [];
const write = args['no-write'] ? false : (args.write ?? !quick);
const targetsArg = args.targets?.split(',').map((t) => t.trim()) as TargetKind[] | undefined;
for (const kind of targetsArg ?? []) if (!TARGET_KINDS.includes(kind)) throw new Error(`unknown target ${kind}: choose from ${TARGET_KINDS.join(', ')}`);
const first = (text: string | undefined) => list(text)?.[0];

// A hard bound on the whole run: whatever hangs, the bench ends and cleans up.
const boundMinutes: Record<ScenarioName, number> = quick
  ? { stream: 4, instances: 4, idle: 5, throughput: 4, socketio: 4, tablos: 5, pages: 5 }
  : { stream: 25, instances: 12, idle: 25, throughput: 12, socketio: 10, tablos: 15, pages: 15 };
const deadlineMs = scenarioNames.reduce((total, name) => total + boundMinutes[name], 0) * 60_000 * Math.max(1, runs / 3);

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
setTimeout(() => void stopNow(`the bench ran past its ${Math.round(deadlineMs / 60_000)}-minute bound`, 2), deadlineMs).unref();

const snapshot = args['app-ref'] ? appSnapshot(args['app-ref']) : undefined;
const info = machine(snapshot && `${snapshot.commit} (exported with git archive from ${args['app-ref']}; the work tree's src/ is not what ran)`);
console.log('Tablo stream benchmark');
for (const line of info.lines) console.log(`  ${line}`);
console.log(`  database server: ${databaseServerUrl().replace(/\/\/[^@/]*@/, '//…@')}`);
console.log(`  scenarios: ${scenarioNames.join(', ')}${quick ? ' (quick)' : ''}; ${runs} run(s) of each target\n`);

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

const log = (line: string) => console.log(line);
const common: Common = {
  runs,
  options: { readers, nodeArgs: serverNodeArgs, appRoot: snapshot?.root },
  log,
  quietWaitMs: Number(args['quiet-wait'] ?? (quick ? 0 : 30)) * 1000,
};
const loadAverage = () => os.loadavg().map((v) => v.toFixed(2)).join(', ');

/** The original scenario: app and bare at 1,000 and 5,000 streams; its section is `bench:results`. */
async function streamScenario(): Promise<Outcome> {
  const subscriberCounts = list(args.subscribers) ?? (quick ? [200] : [1_000, 5_000]);
  const messageCounts = list(args.messages) ?? subscriberCounts.map((n) => (quick ? 40 : n >= 5_000 ? 100 : 200));
  // Posts per second: 20/s, but at most 25,000 deliveries/s, so that on a 2-core machine the
  // fan-out alone (about 20 µs of kernel time per socket write) does not saturate it and every
  // figure become queueing: 20/s at 1,000 subscribers, 5/s at 5,000.
  const rateFor = (subscribers: number) => Number(args.rate ?? Math.min(20, 25_000 / subscribers));
  const kinds = targetsArg ?? ['app', 'bare'];
  for (const kind of kinds) if (kind !== 'app' && kind !== 'bare') throw new Error(`the stream scenario compares app and bare, not ${kind}`);
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
  console.log(
    `== stream: ${scenarios.map((s) => `${s.subscribers} subscribers × ${s.messages} messages`).join(', ')}; ` +
      `${scenarios.map((s) => s.rate).join('/')} posts/s one at a time; ${kinds.join(' and ')}, alternating; ${readers} reader sessions ==`,
  );
  const results: RunResult[] = [];
  for (const scenario of scenarios) {
    console.log(`-- ${scenario.subscribers} subscribers, ${scenario.messages} messages at ${scenario.rate}/s, ${scenario.workers} subscriber workers`);
    for (let run = 1; run <= runs; run++) {
      await quietRound(common, run);
      for (const kind of rotation(kinds, run)) {
        const result = await measure(kind, scenario, common.options, log);
        results.push(result);
        console.log(`  ${kind.padEnd(4)} run ${run}/${runs}: ${describeRun(result)}`);
      }
    }
  }
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
  const skew = Math.max(...results.map((r) => r.clockSkewMs));
  const noisy = results.filter((r) => !r.settledQuietly).length;
  const summary = [
    `(medians over runs; latency = last subscriber's receipt − POST sent)`,
    '',
    summaryTable(summaries),
    ...(pairs.length ? ['', ratioTable(pairs)] : []),
    '',
    `clock skew driver↔workers ≤ ${skew.toFixed(2)} ms.` + (noisy ? ` ${noisy} run(s) never went quiet before memory was read: their RSS figures are less reliable.` : ''),
  ].join('\n');
  const markdown = [
    `Clock skew between the driver and the subscriber workers: ≤ ${skew.toFixed(2)} ms.` + (noisy ? ` ${noisy} run(s) never went quiet before memory was read.` : ''),
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
  return { markdown, summary, verdicts: allVerdicts, runs: results.length, data: results };
}

/** What `--scenario all` runs (said in the document it writes). */
const ALL_SIZES =
  'stream 1,000 and 5,000 streams (200 and 100 messages); instances and socketio 1,000 readers × 200 messages at 20/s; ' +
  'idle 30,000 streams on 2 server processes (6 client processes on 127.0.0.2–7); throughput 100 readers, 1 and 16 in flight, 5 s each; ' +
  'tablos 100 tablos × 10 readers, 64 in flight for 8 s (app-cluster with WEB_CONCURRENCY=2 and Socket.IO); ' +
  'pages 20 connections for 8 s, and 50 sign-ins during fan-out to 1,000 readers (200 messages at 20/s).';

/** The section each scenario rewrites in docs/performance.md. */
const MARKERS: Record<ScenarioName, string> = {
  stream: 'bench:results',
  instances: 'bench:instances',
  idle: 'bench:idle',
  throughput: 'bench:throughput',
  socketio: 'bench:socketio',
  tablos: 'bench:tablos',
  pages: 'bench:pages',
};
const HEADINGS: Record<ScenarioName, string> = {
  stream: 'Latest results',
  instances: 'Latest results: two instances',
  idle: 'Latest results: 10,000 idle streams',
  throughput: 'Latest results: sustained posting',
  socketio: 'Latest results: Socket.IO and the bare ceiling',
  tablos: 'Latest results: 100 tablos at once',
  pages: 'Latest results: pages and sign-in',
};

const started = performance.now();
let failed = false;
let pgVersion = 'unknown';
const everything: Record<string, unknown> = {};
const allVerdicts: Verdict[] = [];
const summaries: string[] = [];
const sections: Section[] = [];
try {
  const needsDatabase = scenarioNames.some((name) => name !== 'stream' || (targetsArg ?? ['app']).some(isAppKind));
  if (needsDatabase) pgVersion = await postgresVersion();
  for (const name of scenarioNames) {
    const scenarioStarted = performance.now();
    const scenarioDate = new Date().toISOString();
    const loadBefore = loadAverage();
    const subscribers = first(args.subscribers);
    const messages = first(args.messages);
    let outcome: Outcome;
    switch (name) {
      case 'stream':
        outcome = await streamScenario();
        break;
      case 'instances':
      case 'socketio': {
        const n = subscribers ?? (quick ? 200 : 1_000);
        const plan = {
          subscribers: n,
          messages: messages ?? (quick ? 40 : 200),
          rate: Number(args.rate ?? Math.min(20, 25_000 / n)),
          workers: Number(args.workers ?? Math.max(2, Math.ceil(n / 2_500))),
          kinds: targetsArg ?? (name === 'instances' ? (['app', 'app-pg', 'app-2x'] as TargetKind[]) : (['app', 'socketio', 'bare'] as TargetKind[])),
        };
        outcome = name === 'instances' ? await instancesScenario(plan, common) : await socketioScenario(plan, common);
        break;
      }
      case 'idle': {
        // The full run holds item 5's 30,000; on its own the scenario keeps its 10,000 on one process.
        const n = subscribers ?? (quick ? 1_000 : all ? 30_000 : 10_000);
        // A process may hold 20,000 descriptors (the server's too): past 15,000 streams, several
        // server processes; --quick runs two, so that the smoke test takes that path.
        const processes = Number(args.processes ?? (n > 15_000 ? Math.max(2, Math.ceil(n / 15_000)) : quick ? 2 : 1));
        outcome = await idleScenario(
          {
            streams: n,
            processes,
            // One loopback source address per worker (~28k ports each): 5,000 sockets each past 10,000.
            workers: Number(args.workers ?? (n > 10_000 ? Math.ceil(n / 5_000) : Math.max(2, Math.ceil(n / 2_500)))),
            openConcurrency: Number(args['open-concurrency'] ?? 16),
            keepAliveMs: Number(args['keepalive-ms'] ?? 2_000),
            windowMs: Number(args.window ?? (quick ? 5 : 8)) * 1000,
            messages: messages ?? 3,
            kinds: targetsArg ?? (processes > 1 ? ['app-cluster', 'bare'] : ['app', 'bare']),
          },
          common,
        );
        break;
      }
      case 'throughput':
        outcome = await throughputScenario(
          {
            readers: subscribers ?? 100,
            workers: Number(args.workers ?? 2),
            concurrency: list(args.concurrency) ?? (quick ? [8] : all ? [1, 16] : [1, 4, 16]),
            durationMs: Number(args.duration ?? (quick ? 3 : all ? 5 : 6)) * 1000,
            kinds: targetsArg ?? ['app', 'socketio', 'bare'],
          },
          common,
        );
        break;
      case 'tablos': {
        const tablos = Number(args.tablos ?? (quick ? 20 : 100));
        outcome = await tablosScenario(
          {
            tablos,
            readersPerTablo: subscribers ?? 10,
            workers: Number(args.workers ?? 2),
            concurrency: first(args.concurrency) ?? (quick ? 16 : 64),
            durationMs: Number(args.duration ?? (quick ? 3 : 8)) * 1000,
            processes: Number(args.processes ?? 2),
            kinds: targetsArg ?? (quick || all ? ['app-cluster', 'socketio'] : ['app-cluster', 'app-pg', 'socketio']),
          },
          common,
        );
        break;
      }
      case 'pages': {
        const n = subscribers ?? (quick ? 200 : 1_000);
        outcome = await pagesScenario(
          {
            connections: Number(args.connections ?? 20),
            durationMs: Number(args.duration ?? (quick ? 2 : 8)) * 1000,
            messages: 50,
            fanOut: {
              subscribers: n,
              messages: messages ?? (quick ? 40 : 200),
              rate: Number(args.rate ?? Math.min(20, 25_000 / n)),
              workers: Number(args.workers ?? Math.max(2, Math.ceil(n / 2_500))),
              openConcurrency: 64,
            },
            burst: 50,
          },
          common,
        );
        break;
      }
    }
    everything[name] = outcome.data;
    allVerdicts.push(...outcome.verdicts);
    const minutes = (performance.now() - scenarioStarted) / 60_000;
    summaries.push(`== ${name}: summary ==\n\n${outcome.summary}`);
    const command = all ? `npm run bench -- --scenario all${quick ? ' --quick' : ''}` : `npm run bench${name === 'stream' ? '' : ` -- --scenario ${name}`}`;
    const header = [
      `Measured ${new Date().toISOString().slice(0, 10)} by \`${command}\`${args['app-ref'] ? ` with \`--app-ref ${args['app-ref']}\`` : ''} (${outcome.runs} runs, ${minutes.toFixed(1)} min).`,
      '',
      '```',
      ...info.lines.map((line) => (line.startsWith('date: ') ? `date: ${scenarioDate}` : line)),
      `postgresql: ${pgVersion}`,
      `load average (1, 5, 15 min) before → after: ${loadBefore} → ${loadAverage()}`,
      `free -h:`,
      info.free,
      '```',
      '',
    ];
    const section = { marker: MARKERS[name], heading: HEADINGS[name], body: `${header.join('\n')}\n${outcome.markdown}` };
    sections.push(section);
    // The whole run rewrites the file at its end; a scenario alone rewrites its own section now.
    if (write && !all) {
      writeSection(section);
      console.log(`(${name}: results written to docs/performance.md)`);
    }
  }
  if (write && all) {
    writeDocument({
      title: `Results of ${new Date().toISOString().slice(0, 10)} (\`npm run bench -- --scenario all\`${quick ? ' --quick' : ''}${args['app-ref'] ? ` --app-ref ${args['app-ref']}` : ''})`,
      intro: [
        `Every scenario, one after the other, ${runs} runs of each target (medians), in ${((performance.now() - started) / 60_000).toFixed(1)} min. ` +
          `Every figure is compared with a baseline measured in the same run; the box is shared, so the ratios are what to read. Sizes: ${ALL_SIZES}`,
      ],
      machine: [...info.lines, `postgresql: ${pgVersion}`, `load average (1, 5, 15 min) at the end: ${loadAverage()}`, 'free -h:', info.free],
      verdicts: allVerdicts,
      sections,
    });
    console.log('(docs/performance.md rewritten from this run)');
  }
} catch (error) {
  failed = true;
  console.error(`\nThe bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
} finally {
  await cleanUp();
}

if (args.dump) writeFileSync(args.dump, JSON.stringify(everything, null, 1));
if (summaries.length) console.log(`\n${summaries.join('\n\n')}`);
if (allVerdicts.length) console.log(`\n== Targets ==\n${allVerdicts.map(verdictLine).join('\n')}`);
console.log(`\n${scenarioNames.join(', ')} in ${((performance.now() - started) / 60_000).toFixed(1)} min.`);
process.exit(failed ? 1 : 0);
