/**
 * Every core: `npm start` runs the compiled JavaScript, and WEB_CONCURRENCY workers serve one
 * port, sharing fan-out through the Postgres bus; SIGTERM to the primary stops them all cleanly.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { projectRoot } from '../src/paths.ts';
import { createTablo, registerPerson } from './support/client.ts';
import { createTestDatabase } from './support/database.ts';
import { hasherProcesses, isRunning } from './support/hasher.ts';
import { freePort } from './support/ports.ts';
import { openStream, type SseStream } from './support/sse.ts';

const COMPILED_MAIN = path.join(projectRoot, 'dist', 'src', 'main.js');

type Run = { child: ChildProcess; output: () => string; exited: Promise<number | null> };

function run(env: Record<string, string>): Run {
  const child = spawn(process.execPath, [COMPILED_MAIN], {
    cwd: projectRoot,
    env: { ...process.env, DATA_DIR: mkdtempSync(path.join(os.tmpdir(), 'tablo-cluster-')), LOG_LEVEL: 'warn', NODE_ENV: 'production', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => output, exited };
}

async function ready(started: Run, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!/Tablo is ready at/.test(started.output())) {
    if (started.child.exitCode !== null) throw new Error(`exited early: ${started.output()}`);
    if (Date.now() > deadline) throw new Error(`not ready: ${started.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

before(() => {
  // What `npm start` does first (its prestart script).
  execFileSync(process.execPath, [path.join(projectRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: projectRoot });
});

describe('WEB_CONCURRENCY', () => {
  let database: { url: string; drop: () => Promise<void> };
  before(async () => {
    database = await createTestDatabase();
  });
  after(() => database.drop());

  it('above 1 with the in-process bus refuses to start, in one sentence', async () => {
    const refused = run({ DATABASE_URL: database.url, REALTIME_BUS: 'memory', WEB_CONCURRENCY: '2', PORT: String(await freePort()) });
    assert.equal(await refused.exited, 1);
    assert.match(refused.output(), /^Tablo could not start: .*WEB_CONCURRENCY=2 needs REALTIME_BUS=postgres[^\n]*\n$/m);
  });

  it('two workers serve one port, hear each other through the bus, and stop cleanly on SIGTERM', async () => {
    const port = await freePort();
    const cluster = run({ DATABASE_URL: database.url, REALTIME_BUS: 'postgres', WEB_CONCURRENCY: '2', PORT: String(port), POST_RATE_LIMIT: '0' });
    const streams: SseStream[] = [];
    let hashers: number[] = [];
    try {
      await ready(cluster);
      assert.match(cluster.output(), /Tablo is ready at http:\/\/localhost:\d+ \(2 workers\)/);
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      const { rows } = await admin.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query ILIKE 'LISTEN%'`,
      );
      await admin.end();
      assert.equal(rows[0]?.n, 2, 'one LISTEN connection per worker');

      const url = `http://127.0.0.1:${port}`;
      const ada = await registerPerson(url, 'Ada');
      hashers = hasherProcesses(cluster.child.pid!);
      assert.equal(hashers.length, 1, 'the worker that registered Ada has started its password hasher');
      const tablo = await createTablo(ada, 'Every core');
      // Streams on separate connections land on both workers (the primary deals them out in turn).
      for (let i = 0; i < 4; i++) streams.push(await openStream(ada.client, tablo, { after: 0 }));
      for (const s of streams) assert.equal(s.status, 200);
      for (let i = 1; i <= 6; i++) {
        const posted = await ada.client.post(`/tablos/${tablo}/discussion/messages`, { body: `hello ${i}` }, { 'HX-Request': 'true' });
        assert.equal(posted.status, 201);
      }
      for (const s of streams) await s.waitForId(6);
      for (const s of streams) assert.deepEqual(s.messageIds, [1, 2, 3, 4, 5, 6]);
    } finally {
      for (const s of streams) s.close();
      cluster.child.kill('SIGTERM');
    }
    const code = await Promise.race([cluster.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 20_000))]);
    assert.equal(code, 0, cluster.output());
    assert.deepEqual(hashers.filter(isRunning), [], 'no password hasher left behind');
  });
});
