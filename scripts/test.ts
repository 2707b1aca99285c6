/**
 * `npm test`: every suite, one after the other — typecheck, integration (node:test over real HTTP
 * and a real PostgreSQL), end-to-end (Playwright in Chromium) — then one closing line,
 * `N passed, N failed`, summing them. Name suites to run only those: `npm test -- integration`.
 *
 * The database server is TEST_DATABASE_URL when set; otherwise an embedded PostgreSQL is started
 * for the run. Each test file and each e2e worker makes its own database on it.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { startEmbeddedPostgres } from '../src/db/embedded.ts';
import { projectRoot } from '../src/paths.ts';
import { createLogger } from '../src/web/logging.ts';

type Outcome = { suite: string; passed: number; failed: number; skipped: number; seconds: number };

const requested = process.argv.slice(2);
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

async function timed(suite: string, work: () => Promise<Omit<Outcome, 'suite' | 'seconds'>>): Promise<void> {
  console.log(`\n=== ${suite} ===`);
  const started = performance.now();
  const result = await work();
  outcomes.push({ suite, ...result, seconds: (performance.now() - started) / 1000 });
}

const bin = (name: string) => path.join(projectRoot, 'node_modules', '.bin', name);

if (wanted('typecheck')) {
  await timed('typecheck', async () => {
    const { code } = await run(bin('tsc'), ['--noEmit', '-p', 'tsconfig.json']);
    return { passed: code === 0 ? 1 : 0, failed: code === 0 ? 0 : 1, skipped: 0 };
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
      const files = readdirSync(path.join(projectRoot, 'test'))
        .filter((f) => f.endsWith('.test.ts'))
        .sort()
        .map((f) => path.join('test', f));
      const { code, output } = await run(process.execPath, [
        '--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', '--test-reporter=spec', ...files,
      ]);
      const count = (label: string) => Number(new RegExp(`^ℹ ${label} (\\d+)$`, 'm').exec(output)?.[1] ?? 0);
      const failed = count('fail') + count('cancelled') + (code !== 0 && count('fail') === 0 ? 1 : 0);
      return { passed: count('pass'), failed, skipped: count('skipped') + count('todo') };
    });
  }

  if (wanted('e2e')) {
    await timed('e2e', async () => {
      const report = path.join(projectRoot, '.tmp', 'e2e-results.json');
      rmSync(report, { force: true });
      const { code } = await run(bin('playwright'), ['test'], { PLAYWRIGHT_JSON_OUTPUT_NAME: report });
      try {
        const { stats } = JSON.parse(readFileSync(report, 'utf8'));
        const failed = stats.unexpected + stats.flaky + (code !== 0 && stats.unexpected === 0 ? 1 : 0);
        return { passed: stats.expected, failed, skipped: stats.skipped };
      } catch {
        return { passed: 0, failed: 1, skipped: 0 };
      }
    });
  }
} finally {
  await stopDatabase();
}

console.log('\n=== summary ===');
for (const o of outcomes) {
  console.log(`${o.suite.padEnd(12)} ${o.passed} passed, ${o.failed} failed, ${o.skipped} skipped  (${o.seconds.toFixed(1)} s)`);
}
const passed = outcomes.reduce((n, o) => n + o.passed, 0);
const failed = outcomes.reduce((n, o) => n + o.failed, 0);
const skipped = outcomes.reduce((n, o) => n + o.skipped, 0);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
