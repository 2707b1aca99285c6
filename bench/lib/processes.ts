/**
 * Child processes and other things a run must undo: every one is registered here, and
 * `cleanUp()` ends them all — on success, on failure, on Ctrl-C and on the global deadline.
 * Processes are ended by their own pid only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { projectRoot } from './paths.ts';

type Undo = { name: string; run: () => Promise<void> };
const undos = new Set<Undo>();

/** Registers work to undo at clean-up; answers a function that does it now (once). */
export function onCleanUp(name: string, run: () => Promise<void>): () => Promise<void> {
  const undo: Undo = { name, run };
  undos.add(undo);
  return async () => {
    if (!undos.delete(undo)) return;
    await run();
  };
}

export async function cleanUp(): Promise<void> {
  // Last registered first: workers before servers before databases.
  for (const undo of [...undos].reverse()) {
    undos.delete(undo);
    try {
      await undo.run();
    } catch (error) {
      console.error(`clean-up of ${undo.name} failed: ${(error as Error).message}`);
    }
  }
}

/** Ends a child: SIGTERM, then SIGKILL after `graceMs`; resolves once it has exited. */
export function endProcess(child: ChildProcess, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export type Server = { child: ChildProcess; pid: number; port: number; output: () => string; stop: () => Promise<void> };

/**
 * Starts a TypeScript entry point as its own node process (no wrapper, so its pid is the one to
 * measure) and waits until a line of its output says which port it listens on.
 */
export async function startServer(options: {
  name: string;
  entry: string;
  nodeArgs?: string[];
  env: NodeJS.ProcessEnv;
  portFrom: RegExp;
  timeoutMs: number;
  stopGraceMs?: number;
}): Promise<Server> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), '--import', 'tsx', options.entry], {
    cwd: projectRoot,
    env: options.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stop = onCleanUp(options.name, () => endProcess(child, options.stopGraceMs ?? 12_000));
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${options.name} did not start within ${options.timeoutMs} ms`)), options.timeoutMs);
      const look = () => {
        const match = options.portFrom.exec(output);
        if (match) {
          clearTimeout(timer);
          resolve(Number(match[1]));
        }
      };
      child.stdout!.on('data', look);
      child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${options.name} exited (${code ?? signal}) before listening:\n${output.slice(-2_000)}`));
      });
    });
    return { child, pid: child.pid!, port, output: () => output, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Resident set size of a process, in bytes (VmRSS in /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1]);
  if (!Number.isFinite(kib)) throw new Error(`no VmRSS for pid ${pid}`);
  return kib * 1024;
}

/** CPU time a process has used so far (user + system), in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which is in parentheses and may contain spaces).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Waits until the processes are quiet (together under `busyShare` of one core over a
 * `windowMs` window, twice in a row), so that memory is read after the work of opening streams
 * (queries, catch-up) is done. Bounded: gives up after `maxMs` and says so.
 */
export async function settle(pids: number[], options: { windowMs?: number; busyShare?: number; minMs?: number; maxMs?: number } = {}): Promise<{ ms: number; quiet: boolean }> {
  const { windowMs = 250, busyShare = 0.05, minMs = 500, maxMs = 15_000 } = options;
  const started = performance.now();
  await sleep(minMs);
  let quietWindows = 0;
  while (performance.now() - started < maxMs) {
    const before = pids.reduce((sum, pid) => sum + cpuMs(pid), 0);
    await sleep(windowMs);
    const used = pids.reduce((sum, pid) => sum + cpuMs(pid), 0) - before;
    quietWindows = used <= windowMs * busyShare ? quietWindows + 1 : 0;
    if (quietWindows >= 2) return { ms: performance.now() - started, quiet: true };
  }
  return { ms: performance.now() - started, quiet: false };
}
