import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../../src/paths.ts';

/**
 * Tablo as a person runs it: `src/main.ts` in its own process, on its own port and database.
 * `restart()` stops it with SIGTERM and starts it again on the same port, as a deploy would.
 */
export class TabloProcess {
  private child: ChildProcess | undefined;
  readonly url: string;
  private readonly dataDir = mkdtempSync(path.join(os.tmpdir(), 'tablo-e2e-'));

  private constructor(
    readonly port: number,
    readonly databaseUrl: string,
    private readonly env: Record<string, string>,
  ) {
    this.url = `http://127.0.0.1:${port}`;
  }

  /** `env`: settings for this process on top of the test's environment (e.g. POST_RATE_LIMIT). */
  static async start(databaseUrl: string, env: Record<string, string> = {}): Promise<TabloProcess> {
    const server = new TabloProcess(await freePort(), databaseUrl, env);
    await server.launch();
    return server;
  }

  async launch(): Promise<void> {
    let output = '';
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      cwd: projectRoot,
      env: {
        ...process.env,
        PORT: String(this.port),
        HOST: '127.0.0.1',
        DATABASE_URL: this.databaseUrl,
        DATA_DIR: this.dataDir,
        LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child.stdout?.on('data', (c) => (output += c));
    this.child.stderr?.on('data', (c) => {
      output += c;
      if (process.env.E2E_LOG_LEVEL) process.stderr.write(c);
    });
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`Tablo exited at start:\n${output}`);
      try {
        if ((await fetch(`${this.url}/healthz`)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`Tablo did not answer /healthz within 30 s:\n${output}`);
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(killer);
  }

  async restart(pauseMs = 0): Promise<void> {
    await this.stop();
    if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    await this.launch();
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
