import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../src/paths.ts';
import { CapturedLogs } from '../../test/support/logs.ts';
import { freePort } from '../../test/support/ports.ts';

/** A graceful shutdown that takes longer than this is a failure (the server's own grace is 10 s). */
const SHUTDOWN_BOUND_MS = 12_000;

/**
 * Tablo as a person runs it: `src/main.ts` in its own process, on its own port and database.
 * `restart()` stops it with SIGTERM and starts it again on the same port, as a deploy would.
 * Its log lines (`warn` and above) are kept: `stop()` fails on an error line nobody expected
 * (`logs.expect(/pattern/)`), and on a shutdown that does not exit 0 within SHUTDOWN_BOUND_MS.
 */
export class TabloProcess {
  private child: ChildProcess | undefined;
  readonly url: string;
  readonly logs: CapturedLogs;
  private readonly dataDir = mkdtempSync(path.join(os.tmpdir(), 'tablo-e2e-'));

  private constructor(
    readonly port: number,
    readonly databaseUrl: string,
    private readonly env: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
    this.logs = new CapturedLogs(`Tablo on port ${port}`, [], Boolean(process.env.E2E_LOG_LEVEL));
  }

  /** `env`: settings for this process on top of the test's environment (e.g. POST_RATE_LIMIT). */
  static async start(databaseUrl: string, env: Record<string, string> = {}): Promise<TabloProcess> {
    const server = new TabloProcess(await freePort(), databaseUrl, env);
    await server.launch();
    return server;
  }

  /** The running process's id (for tests that signal it themselves). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  async launch(): Promise<void> {
    let output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: projectRoot,
      env: {
        ...process.env,
        PORT: String(this.port),
        HOST: '127.0.0.1',
        DATABASE_URL: this.databaseUrl,
        DATA_DIR: this.dataDir,
        LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
        // No load balancer reads /readyz here: stop at once unless a test measures the drain.
        SHUTDOWN_DRAIN_MS: '0',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    // pino writes JSON lines to stdout; anything else there is the start banner.
    let partial = '';
    child.stdout?.on('data', (c: Buffer) => {
      output += c;
      const lines = (partial + c.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) if (line.startsWith('{')) this.logs.write(line);
    });
    child.stderr?.on('data', (c) => {
      output += c;
      if (process.env.E2E_LOG_LEVEL) process.stderr.write(c);
    });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`Tablo exited at start:\n${output}`);
      try {
        if ((await fetch(`${this.url}/healthz`)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`Tablo did not answer /healthz within 30 s:\n${output}`);
  }

  /** SIGTERM, then insists on a clean exit (code 0) within the bound, and on no unexpected error logged. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const started = Date.now();
    child.kill('SIGTERM');
    const bound = new Promise<'hung'>((resolve) => setTimeout(resolve, SHUTDOWN_BOUND_MS, 'hung').unref());
    const outcome = await Promise.race([exited, bound]);
    if (outcome === 'hung') {
      child.kill('SIGKILL');
      await exited;
      throw new Error(`Tablo did not exit within ${SHUTDOWN_BOUND_MS} ms of SIGTERM`);
    }
    if (outcome.code !== 0) {
      throw new Error(`Tablo exited with ${outcome.signal ?? `code ${outcome.code}`} after SIGTERM (${Date.now() - started} ms)`);
    }
    this.logs.check('while it ran or stopped');
  }

  /** SIGKILL: the process dies as in a crash, with no chance to tidy up (its presence rows stay behind). */
  async crash(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  async restart(pauseMs = 0): Promise<void> {
    await this.stop();
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    await this.launch();
  }
}

