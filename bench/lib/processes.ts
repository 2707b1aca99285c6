/**
 * Child processes and other things a run must undo: every one is registered here, and
 * `cleanUp()` ends them all — on success, on failure, on Ctrl-C and on the global deadline.
 * Processes are ended by their own pid only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import { projectRoot } from './paths.ts';
import { sum } from './stats.ts';

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
  /** Where the entry point (relative) is run from; the project by default. */
  cwd?: string;
  env: NodeJS.ProcessEnv;
  portFrom: RegExp;
  timeoutMs: number;
  stopGraceMs?: number;
}): Promise<Server> {
  // TypeScript through tsx; a compiled entry (see compiledEntry) as plain JavaScript.
  const loader = options.entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...loader, options.entry], {
    cwd: options.cwd ?? projectRoot,
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
 * Waits until `busyMs` (CPU time used so far by whatever is watched) grows by at most
 * `busyShare` of one core over a `windowMs` window, twice in a row. Bounded: gives up after
 * `maxMs` and says so, with the share of the last window.
 */
async function untilQuiet(
  busyMs: () => number,
  options: { windowMs: number; busyShare: number; minMs: number; maxMs: number },
): Promise<{ ms: number; quiet: boolean; busyShare: number }> {
  const started = performance.now();
  await sleep(options.minMs);
  let quietWindows = 0;
  let share = Number.NaN;
  do {
    const before = busyMs();
    await sleep(options.windowMs);
    share = (busyMs() - before) / options.windowMs;
    quietWindows = share <= options.busyShare ? quietWindows + 1 : 0;
    if (quietWindows >= 2) return { ms: performance.now() - started, quiet: true, busyShare: share };
  } while (performance.now() - started < options.maxMs);
  return { ms: performance.now() - started, quiet: false, busyShare: share };
}

/**
 * Waits until the processes are quiet (together under `busyShare` of one core over a
 * `windowMs` window, twice in a row), so that memory is read after the work of opening streams
 * (queries, catch-up) is done. Bounded: gives up after `maxMs` and says so.
 */
export function settle(pids: number[], options: { windowMs?: number; busyShare?: number; minMs?: number; maxMs?: number } = {}): Promise<{ ms: number; quiet: boolean }> {
  const { windowMs = 250, busyShare = 0.05, minMs = 500, maxMs = 15_000 } = options;
  return untilQuiet(() => sum(pids.map((pid) => cpuMsOrUndefined(pid) ?? 0)), { windowMs, busyShare, minMs, maxMs });
}

/** A process and all its descendants (a cluster primary and its workers), from /proc/<pid>/task/<tid>/children. */
export function processTree(pid: number): number[] {
  const found = [pid];
  for (let i = 0; i < found.length; i++) {
    try {
      for (const task of readdirSync(`/proc/${found[i]}/task`)) {
        const children = readFileSync(`/proc/${found[i]}/task/${task}/children`, 'utf8').trim();
        if (children) found.push(...children.split(' ').map(Number));
      }
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Every PostgreSQL server process on this machine, with its command line (the database it serves is in it). */
export function postgresProcesses(): Array<{ pid: number; title: string }> {
  const found: Array<{ pid: number; title: string }> = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'postgres') continue;
      found.push({ pid: Number(entry), title: readFileSync(`/proc/${entry}/cmdline`, 'utf8').replace(/\0/g, ' ').trim() });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** Busy and total CPU time of the whole machine so far (all cores, ms), from /proc/stat. */
export function machineCpuMs(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busy: busy * 10, total: (busy + idle! + iowait!) * 10 };
}

function cpuMsOrUndefined(pid: number): number | undefined {
  try {
    return cpuMs(pid);
  } catch {
    return undefined;
  }
}

export type CpuUse = {
  wallMs: number;
  /** CPU time used in the window by each group of processes (ms). */
  groups: Record<string, number>;
  /** The whole machine: busy ms over all cores, and how many cores. */
  machineBusyMs: number;
  cores: number;
};

/** CPU of the processes outside the groups over the window (someone else's work): % of one core. */
export const othersPercent = (cpu: CpuUse) =>
  Math.max(0, (100 * (cpu.machineBusyMs - Object.values(cpu.groups).reduce((total, ms) => total + ms, 0))) / cpu.wallMs);

/**
 * CPU time used by groups of processes over a window. Samples every `intervalMs`, so that a
 * process that exits in the window (a database connection closing) still counts up to its last
 * sample, and one that starts in it (a pool opening a connection) counts from zero.
 */
export class CpuWatch {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  private readonly groupOf = new Map<number, string>();
  private timer: NodeJS.Timeout | undefined;
  private startedAt = 0;
  private machineAtStart = { busy: 0, total: 0 };

  constructor(
    private readonly groups: Record<string, () => number[]>,
    private readonly intervalMs = 500,
  ) {}

  start(): void {
    this.startedAt = performance.now();
    this.machineAtStart = machineCpuMs();
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), this.intervalMs);
    this.timer.unref();
  }

  stop(): CpuUse {
    clearInterval(this.timer);
    this.sample(false);
    const machine = machineCpuMs();
    const groups: Record<string, number> = Object.fromEntries(Object.keys(this.groups).map((name) => [name, 0]));
    for (const [pid, last] of this.last) {
      const name = this.groupOf.get(pid)!;
      groups[name] = (groups[name] ?? 0) + last - (this.first.get(pid) ?? 0);
    }
    return {
      wallMs: performance.now() - this.startedAt,
      groups,
      machineBusyMs: machine.busy - this.machineAtStart.busy,
      cores: os.availableParallelism(),
    };
  }

  private sample(initial: boolean): void {
    for (const [name, pids] of Object.entries(this.groups)) {
      for (const pid of pids()) {
        const used = cpuMsOrUndefined(pid);
        if (used === undefined) continue;
        if (!this.groupOf.has(pid)) {
          this.groupOf.set(pid, name);
          this.first.set(pid, initial ? used : 0);
        }
        this.last.set(pid, used);
      }
    }
  }
}

/**
 * The PostgreSQL processes that work for a database: its backends (and autovacuum workers),
 * plus the server's shared ones (postmaster, WAL writer, checkpointer, background writer…),
 * which every commit leans on. Other databases' backends (other people's tests) are left out.
 */
export function postgresPidsFor(databaseName: string): number[] {
  return postgresProcesses()
    .filter(({ title }) => {
      if (title.includes(databaseName)) return true;
      const role = /^postgres: (?:[^:]+: )?(.*)$/.exec(title)?.[1];
      if (role === undefined) return true; // the postmaster: /usr/lib/postgresql/…/postgres -D …
      // A client backend reads `user database host(port) state`; shared processes do not.
      return !/^\S+ \S+ (?:\S+\(\d+\)|\[local\])/.test(role) && !role.startsWith('autovacuum worker');
    })
    .map(({ pid }) => pid);
}

/**
 * Waits (at most `maxMs`) until the machine has been nearly idle — under `busyShare` of one core
 * over two `windowMs` windows in a row — so that a run does not start in the middle of someone
 * else's burst on a shared machine. Answers how long it waited and whether it got quiet.
 */
export function waitForQuietMachine(maxMs: number, options: { windowMs?: number; busyShare?: number } = {}): Promise<{ ms: number; quiet: boolean; busyShare: number }> {
  const { windowMs = 1_000, busyShare = 0.25 } = options;
  return untilQuiet(() => machineCpuMs().busy, { windowMs, busyShare, minMs: 0, maxMs });
}
