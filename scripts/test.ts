/**
 * `npm test`: every suite, one after the other — typecheck, integration (node:test over real HTTP
 * and a real PostgreSQL), end-to-end (Playwright in Chromium) — then one closing line,
 * `N passed, N failed`, summing them. Name suites to run only those: `npm test -- integration`.
 *
 * Counts come from machine-readable reports (scripts/test-reporter.ts, Playwright's JSON), never
 * from scraping text. A suite fails the run when it ran no test (or an integration file ran none),
 * when a test is skipped (or todo) without saying why, or when its runner exited non-zero with no
 * failure reported. Skipped tests are counted and shown: `N passed, N failed, N skipped`.
 *
 * The database server is TEST_DATABASE_URL when set; otherwise an embedded PostgreSQL is started
 * for the run. Each test file and each e2e worker makes its own database on it.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { projectRoot } from '../src/paths.ts';
import { createLogger } from '../src/web/logging.ts';

/** A suite's counts, and what makes it fail beyond failed tests (it ran none, a skip gave no reason…). */
type Counts = { passed: number; failed: number; skipped: number; problems: string[] };
type Outcome = Counts & { suite: string; seconds: number };
/** One finished test, as scripts/test-reporter.mjs writes it. */
type TestRecord = {
  outcome: 'pass' | 'fail';
  name: string;
  file: string;
  /** The record is the file itself, not a test in it. */
  whole: boolean;
  skip?: string | boolean;
  todo?: string | boolean;
  error?: string;
  /** How long it took, hooks excluded. */
  ms?: number;
};

const args = process.argv.slice(2);
/** Integration test files named on the command line (`npm test -- integration test/x.test.ts`): only those run. */
const namedFiles = args.filter((a) => a.endsWith('.test.ts'));
const requested = args.filter((a) => !a.endsWith('.test.ts'));
const wanted = (suite: string) => requested.length === 0 || requested.includes(suite);
const outcomes: Outcome[] = [];

function run(command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const echo = (chunk: Buffer) => {
      output += chunk.toString();
      process.stdout.write(chunk);
    };
    child.stdout.on('data', echo);
    child.stderr.on('data', echo);
    child.on('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

async function timed(suite: string, work: () => Promise<Counts>): Promise<void> {
  console.log(`\n=== ${suite} ===`);
  const started = performance.now();
  const result = await work();
  outcomes.push({ suite, ...result, seconds: (performance.now() - started) / 1000 });
}

const bin = (name: string) => path.join(projectRoot, 'node_modules', '.bin', name);

if (wanted('typecheck')) {
  await timed('typecheck', async () => {
    // A check, not tests: it adds nothing to the passed count, and a failure counts as one.
    const { code } = await run(bin('tsc'), ['--noEmit', '-p', 'tsconfig.json']);
    return { passed: 0, failed: code === 0 ? 0 : 1, skipped: 0, problems: code === 0 ? [] : ['the typecheck failed'] };
  });
}

let stopDatabase = async () => {};
if ((wanted('integration') || wanted('e2e')) && !process.env.TEST_DATABASE_URL) {
  const dataDir = path.join(projectRoot, '.tmp', 'test-postgres');
  rmSync(dataDir, { recursive: true, force: true });
  const port = Number(process.env.TEST_EMBEDDED_PG_PORT ?? 54339);
  console.log(`Starting an embedded PostgreSQL for the tests on port ${port}…`);
  const embedded = await startEmbeddedPostgres({ dataDir, port, logger: createLogger('warn') });
  process.env.TEST_DATABASE_URL = embedded.url;
  stopDatabase = async () => {
    await embedded.stop();
    // Throwaway: also when, as root in a private folder, it lived outside dataDir.
    rmSync(embedded.databaseDir, { recursive: true, force: true });
  };
}

try {
  if (wanted('integration')) {
    await timed('integration', async () => {
      const files = namedFiles.length
        ? namedFiles.map((f) => path.relative(projectRoot, path.resolve(f)))
        : // The app's tests, then @tablo/client's (against real local servers), counted alike.
          longestFirst(
            ['test', path.join('client', 'test')].flatMap((dir) =>
              readdirSync(path.join(projectRoot, dir))
                .filter((f) => f.endsWith('.test.ts'))
                .map((f) => path.join(dir, f)),
            ),
          );
      const records = path.join(projectRoot, '.tmp', 'integration-results.jsonl');
      mkdirSync(path.dirname(records), { recursive: true });
      rmSync(records, { force: true });
      const { code } = await run(process.execPath, [
        '--import', 'tsx', '--test', `--test-concurrency=${integrationConcurrency()}`, '--test-timeout=180000',
        '--test-reporter=spec', '--test-reporter-destination=stdout',
        '--test-reporter=./scripts/test-reporter.mjs', `--test-reporter-destination=${records}`,
        ...files,
      ]);
      return countIntegration(code, files, records);
    });
  }

  if (wanted('e2e')) {
    await timed('e2e', async () => {
      const report = path.join(projectRoot, '.tmp', 'e2e-results.json');
      rmSync(report, { force: true });
      const { code } = await run(bin('playwright'), ['test'], { PLAYWRIGHT_JSON_OUTPUT_NAME: report });
      return countPlaywright(code, report);
    });
  }
} finally {
  await stopDatabase();
}

console.log('\n=== summary ===');
for (const o of outcomes) {
  console.log(`${o.suite.padEnd(12)} ${o.passed} passed, ${o.failed} failed, ${o.skipped} skipped  (${o.seconds.toFixed(1)} s)`);
  for (const problem of o.problems) console.log(`  ✖ ${problem}`);
}
const passed = outcomes.reduce((n, o) => n + o.passed, 0);
const failed = outcomes.reduce((n, o) => n + o.failed, 0);
const skipped = outcomes.reduce((n, o) => n + o.skipped, 0);
const healthy = outcomes.length > 0 && outcomes.every((o) => o.problems.length === 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 && healthy ? 0 : 1);

/**
 * Files run this many at a time (TEST_CONCURRENCY overrides). Each file makes its own database and
 * starts one to three apps (a pool of up to 10 connections each, plus a LISTEN one): measured on
 * the tests' server, three files at once peaked at 53–68 connections and four at about 71, so
 * three keep headroom under PostgreSQL's default 100. Most of a file's time is waiting (streams,
 * timers, other processes), so a third file fills idle cores.
 */
function integrationConcurrency(): number {
  const asked = Number(process.env.TEST_CONCURRENCY ?? 3);
  return Number.isInteger(asked) && asked > 0 ? asked : 3;
}

/**
 * The slowest files (measured: they wait on embedded PostgreSQL starts, megabytes of backlog,
 * argon2 by the hundred, several instances) start first, so that none of them is left running
 * alone at the end; the rest follow in name order. A file missing from the list is only later.
 */
function longestFirst(files: string[]): string[] {
  const SLOWEST_FIRST = ['first-start', 'stream-load', 'limits', 'events', 'members', 'instances', 'stream', 'presence', 'processes'];
  const rank = (file: string) => {
    const index = SLOWEST_FIRST.indexOf(path.basename(file).replace(/\.test\.ts$/, ''));
    return index === -1 ? SLOWEST_FIRST.length : index;
  };
  return [...files].sort((x, y) => rank(x) - rank(y) || x.localeCompare(y));
}

/**
 * The integration counts, from the JSON lines of scripts/test-reporter.ts. A suite that ran no test,
 * a file that ran none, a skip or todo without a reason, or a non-zero exit with nothing failed
 * (the runner itself broke) each fail the run.
 */
function countIntegration(code: number, files: string[], recordsFile: string): Counts {
  const records: TestRecord[] = existsSync(recordsFile)
    ? readFileSync(recordsFile, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line) as TestRecord)
    : [];
  const tests = records.filter((r) => !r.whole);
  const problems: string[] = [];
  const skipped = tests.filter((r) => r.skip || r.todo);
  for (const r of skipped) {
    const reason = r.skip || r.todo;
    if (typeof reason !== 'string' || !reason.trim()) problems.push(`${r.name} (${path.relative(projectRoot, r.file)}) is skipped without a reason`);
  }
  const failed = records.filter((r) => r.outcome === 'fail');
  for (const r of failed.filter((f) => f.whole)) problems.push(`${path.relative(projectRoot, r.file)} failed outside its tests: ${r.error ?? ''}`);
  for (const file of files) {
    const ran = tests.filter((r) => r.file === path.join(projectRoot, file) && !r.skip && !r.todo).length;
    if (ran === 0) problems.push(`${file} ran no test`);
  }
  printSlowest(tests);
  const passed = tests.filter((r) => r.outcome === 'pass' && !r.skip && !r.todo).length;
  if (passed + failed.length === 0) problems.push('the integration suite ran no test');
  if (code !== 0 && failed.length === 0) problems.push(`the test runner exited with ${code} and reported no failure`);
  return { passed, failed: failed.length + (problems.length && failed.length === 0 ? 1 : 0), skipped: skipped.length, problems };
}

/** Where the time goes: the slowest files by the sum of their tests (run concurrently, so they overlap). */
function printSlowest(tests: TestRecord[]): void {
  const byFile = new Map<string, number>();
  for (const r of tests) byFile.set(r.file, (byFile.get(r.file) ?? 0) + (r.ms ?? 0));
  const slowest = [...byFile].sort((x, y) => y[1] - x[1]).slice(0, 8);
  if (!slowest.length) return;
  console.log('\nslowest integration files (sum of their tests):');
  for (const [file, ms] of slowest) console.log(`  ${(ms / 1000).toFixed(1).padStart(6)} s  ${path.relative(projectRoot, file)}`);
}

type PlaywrightSuite = {
  title: string;
  suites?: PlaywrightSuite[];
  specs?: { title: string; file: string; tests: { status: string; annotations: { type: string; description?: string }[] }[] }[];
};

/** The e2e counts, from Playwright's JSON report, under the same rules. */
function countPlaywright(code: number, reportFile: string): Counts {
  let report: { stats: { expected: number; unexpected: number; flaky: number; skipped: number }; suites: PlaywrightSuite[] };
  try {
    report = JSON.parse(readFileSync(reportFile, 'utf8'));
  } catch {
    return { passed: 0, failed: 1, skipped: 0, problems: ['Playwright wrote no readable JSON report'] };
  }
  const { stats } = report;
  const problems: string[] = [];
  const walk = (suite: PlaywrightSuite): void => {
    for (const spec of suite.specs ?? []) {
      for (const test of spec.tests) {
        if (test.status !== 'skipped') continue;
        const reason = test.annotations.find((a) => a.type === 'skip' || a.type === 'fixme')?.description;
        if (!reason?.trim()) problems.push(`${spec.title} (${spec.file}) is skipped without a reason`);
      }
    }
    for (const child of suite.suites ?? []) walk(child);
  };
  for (const suite of report.suites) walk(suite);
  if (stats.expected + stats.unexpected + stats.flaky === 0) problems.push('the e2e suite ran no test');
  if (code !== 0 && stats.unexpected === 0 && stats.flaky === 0) problems.push(`Playwright exited with ${code} and reported no failure`);
  const failed = stats.unexpected + stats.flaky;
  return { passed: stats.expected, failed: failed + (problems.length && failed === 0 ? 1 : 0), skipped: stats.skipped, problems };
}
