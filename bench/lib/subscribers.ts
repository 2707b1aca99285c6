/**
 * The driver's side of the subscriber workers: forks them, shares the streams out, and gathers
 * what they saw.
 */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { endProcess, onCleanUp } from './processes.ts';
import { projectRoot } from './paths.ts';
import type { DeliveryReport, Endpoint, FromWorker, OpenSummary, ToWorker, UpTo } from './protocol.ts';

type Worker = { child: ChildProcess; inbox: FromWorker[]; waiters: Array<() => void>; stop: () => Promise<void> };

function startWorker(index: number): Promise<Worker> {
  const child = fork(path.join(projectRoot, 'bench', 'subscriber-worker.ts'), [], {
    cwd: projectRoot,
    execArgv: ['--import', 'tsx'],
    serialization: 'advanced', // NaN and typed arrays survive the trip
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const worker: Worker = {
    child,
    inbox: [],
    waiters: [],
    stop: onCleanUp(`subscriber worker ${index}`, () => endProcess(child, 2_000)),
  };
  child.on('message', (message) => {
    worker.inbox.push(message as FromWorker);
    for (const wake of worker.waiters.splice(0)) wake();
  });
  child.on('exit', () => {
    for (const wake of worker.waiters.splice(0)) wake();
  });
  return expect(worker, 'ready', 30_000).then(() => worker);
}

/** The next message of a type from a worker, or an error after `timeoutMs` or if it exits. */
async function expect<T extends FromWorker['type']>(worker: Worker, type: T, timeoutMs: number): Promise<Extract<FromWorker, { type: T }>> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const fatal = worker.inbox.find((m) => m.type === 'fatal');
    if (fatal && fatal.type === 'fatal') throw new Error(`subscriber worker failed: ${fatal.error}`);
    const index = worker.inbox.findIndex((m) => m.type === type);
    if (index !== -1) return worker.inbox.splice(index, 1)[0] as Extract<FromWorker, { type: T }>;
    if (worker.child.exitCode !== null || worker.child.signalCode !== null) throw new Error('a subscriber worker exited');
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`no '${type}' from a subscriber worker within ${timeoutMs} ms`);
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, left);
      worker.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

function tell(worker: Worker, message: ToWorker): void {
  worker.child.send(message);
}

export type Deliveries = {
  streams: number;
  /** Index = message id: streams that got it. */
  receivedBy: number[];
  /** Index = message id: when the first and the last stream got it (ms since the epoch). */
  firstAt: number[];
  lastAt: number[];
  duplicates: number;
  missing: number;
  outOfOrder: number;
  badIds: number;
  resyncs: number;
  namedEvents: number;
  endedEarly: number;
  bytes: number;
  keepAlives: number;
};

export class SubscriberPool {
  private constructor(private readonly workers: Worker[]) {}

  /** The worker processes (their CPU is the readers'). */
  get pids(): number[] {
    return this.workers.flatMap((w) => (w.child.pid === undefined ? [] : [w.child.pid]));
  }

  static async start(count: number): Promise<SubscriberPool> {
    return new SubscriberPool(await Promise.all(Array.from({ length: count }, (_, i) => startWorker(i + 1))));
  }

  /**
   * Opens `total` streams spread evenly over the workers; answers once all are open (or failed).
   * Worker i binds its sockets to 127.0.0.(i + 2) when the server is on loopback: one source
   * address has only ~28k ephemeral ports, so 30,000 streams need several.
   */
  async open(
    total: number,
    endpoints: Endpoint[],
    messages: number,
    options: { concurrency: number; timeoutMs: number; channels?: number },
  ): Promise<OpenSummary> {
    const started = performance.now();
    const share = (i: number) => Math.floor(total / this.workers.length) + (i < total % this.workers.length ? 1 : 0);
    let firstIndex = 0;
    this.workers.forEach((worker, i) => {
      const count = share(i);
      tell(worker, {
        type: 'open',
        endpoints,
        count,
        firstIndex,
        concurrency: options.concurrency,
        messages,
        channels: options.channels,
        localAddress: endpoints[0]?.host.startsWith('127.') ? `127.0.0.${i + 2}` : undefined,
        openTimeoutMs: options.timeoutMs,
      });
      firstIndex += count;
    });
    // Each worker bounds each stream by timeoutMs; the whole opening by a generous multiple.
    const limit = options.timeoutMs * 4 + total * 20;
    const summaries = await Promise.all(this.workers.map((w) => expect(w, 'opened', limit)));
    const failures = summaries.flatMap((s) => s.summary.failures);
    return {
      opened: summaries.reduce((sum, s) => sum + s.summary.opened, 0),
      failed: summaries.reduce((sum, s) => sum + s.summary.failed, 0),
      failures: [...new Set(failures)].slice(0, 5),
      ms: performance.now() - started,
    };
  }

  /** The largest clock difference between the driver and a worker, in ms (best of a few pings). */
  async clockSkew(): Promise<number> {
    let worst = 0;
    for (const worker of this.workers) {
      let best = { skew: 0, rtt: Number.POSITIVE_INFINITY };
      for (let i = 0; i < 5; i++) {
        const sentAt = performance.timeOrigin + performance.now();
        tell(worker, { type: 'clock', sentAt });
        const answer = await expect(worker, 'clock', 5_000);
        const back = performance.timeOrigin + performance.now();
        const rtt = back - sentAt;
        if (rtt < best.rtt) best = { skew: answer.workerNow - (sentAt + back) / 2, rtt };
      }
      worst = Math.max(worst, Math.abs(best.skew));
    }
    return worst;
  }

  /** Deliveries so far, over all workers (`upTo`: only ids 1..upTo are expected, per channel when a list). */
  async status(upTo?: UpTo): Promise<{ delivered: number; expected: number; ended: number; keepAlives: number; open: number }> {
    const total = { delivered: 0, expected: 0, ended: 0, keepAlives: 0, open: 0 };
    for (const worker of this.workers) tell(worker, { type: 'status', upTo });
    for (const worker of this.workers) {
      const status = await expect(worker, 'status', 5_000);
      total.delivered += status.delivered;
      total.expected += status.expected;
      total.ended += status.ended;
      total.keepAlives += status.keepAlives;
      total.open += status.open;
    }
    return total;
  }

  /** Polls until every open stream has every message (ids 1..upTo), or `timeoutMs` passes. Answers whether complete. */
  async waitForDeliveries(timeoutMs: number, upTo?: UpTo): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const { delivered, expected } = await this.status(upTo);
      if (delivered >= expected) return true;
      if (performance.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async collect(upTo?: UpTo): Promise<Deliveries> {
    for (const worker of this.workers) tell(worker, { type: 'collect', upTo });
    const reports: DeliveryReport[] = [];
    for (const worker of this.workers) reports.push((await expect(worker, 'report', 30_000)).report);
    const length = reports[0]?.receivedBy.length ?? 0;
    const merged: Deliveries = {
      streams: 0,
      receivedBy: new Array<number>(length).fill(0),
      firstAt: new Array<number>(length).fill(Number.NaN),
      lastAt: new Array<number>(length).fill(Number.NaN),
      duplicates: 0,
      missing: 0,
      outOfOrder: 0,
      badIds: 0,
      resyncs: 0,
      namedEvents: 0,
      endedEarly: 0,
      bytes: 0,
      keepAlives: 0,
    };
    const earliest = (a: number, b: number) => (Number.isNaN(a) ? b : Number.isNaN(b) ? a : Math.min(a, b));
    const latest = (a: number, b: number) => (Number.isNaN(a) ? b : Number.isNaN(b) ? a : Math.max(a, b));
    for (const report of reports) {
      merged.streams += report.streams;
      merged.duplicates += report.duplicates;
      merged.missing += report.missing;
      merged.outOfOrder += report.outOfOrder;
      merged.badIds += report.badIds;
      merged.resyncs += report.resyncs;
      merged.namedEvents += report.namedEvents;
      merged.endedEarly += report.endedEarly;
      merged.bytes += report.bytes;
      merged.keepAlives += report.keepAlives;
      for (let id = 0; id < length; id++) {
        merged.receivedBy[id]! += report.receivedBy[id] ?? 0;
        merged.firstAt[id] = earliest(merged.firstAt[id]!, report.firstAt[id] ?? Number.NaN);
        merged.lastAt[id] = latest(merged.lastAt[id]!, report.lastAt[id] ?? Number.NaN);
      }
    }
    return merged;
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(async (worker) => {
        if (worker.child.connected) tell(worker, { type: 'exit' });
        await worker.stop();
      }),
    );
  }
}
