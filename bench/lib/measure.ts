/**
 * One measurement: a fresh server, fresh subscriber workers, N streams opened, M messages posted
 * one at a time at a fixed rate, then what every stream saw. Everything it starts it stops,
 * whether the run succeeds or not.
 */
import { io } from 'socket.io-client';
import { CpuWatch, type CpuUse, cpuMs, postgresPidsFor, rssBytes, settle, sleep } from './processes.ts';
import type { Endpoint } from './protocol.ts';
import { readFrames } from './sse-text.ts';
import { percentile, sum } from './stats.ts';
import { SubscriberPool } from './subscribers.ts';
import { type AppOptions, type Channel, type ServerOptions, startTarget, withDeathNotice, type Target, type TargetKind } from './targets.ts';

export type Scenario = {
  subscribers: number;
  messages: number;
  /** Posts per second (one at a time: never faster than the server answers). */
  rate: number;
  workers: number;
  /** Streams each worker opens at once. */
  openConcurrency: number;
};

export type RunResult = {
  kind: TargetKind;
  scenario: Scenario;
  opened: number;
  openFailed: number;
  openFailures: string[];
  openMs: number;
  rssBeforeBytes: number;
  rssAfterBytes: number;
  rssPerStreamBytes: number;
  /** Per message: last stream's receipt − post sent (ms). Only messages every open stream got. */
  lastLatencies: number[];
  /** Per message: first stream's receipt − post sent (ms). */
  firstLatencies: number[];
  /** POST round trips (ms). */
  postRoundTrips: number[];
  postFailures: number;
  /** Messages every open stream received. */
  completeMessages: number;
  duplicates: number;
  missing: number;
  outOfOrder: number;
  badIds: number;
  resyncs: number;
  namedEvents: number;
  endedEarly: number;
  /** Server CPU (user + system) during the posting phase, per message (ms). */
  serverCpuMsPerMessage: number;
  /** CPU during the posting phase and the wait for the last deliveries: server, PostgreSQL, readers. */
  postingCpu: CpuUse;
  clockSkewMs: number;
  settledQuietly: boolean;
  /** Per message id 1..M: [ms since the first post, first-stream latency, last-stream latency, streams that got it]. */
  timeline: Array<[number, number, number, number]>;
  /** What the side load did, when there was one. */
  sideLoad?: string;
  seconds: number;
};

const WARM_UP_STREAMS = 20;
const WARM_UP_MESSAGES = 20;

/** A warm-up stream, opened with an ordinary client: node:http for SSE, socket.io-client for Socket.IO. */
type WarmUpStream = { received: () => number; close: () => void };

function openWarmUpStream(endpoint: Endpoint): Promise<WarmUpStream> {
  if (endpoint.protocol === 'socketio') {
    const topic = new URL(endpoint.path, 'http://localhost').searchParams.get('topic') ?? 'main';
    const client = io(`http://${endpoint.host}:${endpoint.port}`, { transports: ['websocket'], query: { topic }, forceNew: true, reconnection: false });
    let received = 0;
    client.on('message', () => received++);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        client.close();
        reject(new Error('warm-up socket.io client timed out'));
      }, 10_000);
      client.once('connect', () => {
        clearTimeout(timer);
        resolve({ received: () => received, close: () => client.close() });
      });
      client.once('connect_error', (error) => {
        clearTimeout(timer);
        client.close();
        reject(error);
      });
    });
  }
  const aborted = new AbortController();
  const timeout = setTimeout(() => aborted.abort(new Error('warm-up stream timed out')), 10_000);
  let received = 0;
  const url = new URL(endpoint.path, `http://${endpoint.host}:${endpoint.port}`);
  return readFrames(url, endpoint.headers, aborted.signal, (frame) => {
    if (/^id: \d+$/m.test(frame)) received++;
  }).then(
    () => {
      clearTimeout(timeout);
      return { received: () => received, close: () => aborted.abort() };
    },
    (error: unknown) => {
      clearTimeout(timeout);
      throw error;
    },
  );
}

/**
 * Runs the code paths once before measuring (JIT, pools, first allocations) on a channel of its
 * own, and checks with ordinary clients that every warm-up stream got every warm-up message.
 */
export async function warmUp(channel: Channel): Promise<void> {
  const streams = await Promise.all(
    Array.from({ length: WARM_UP_STREAMS }, (_, i) => openWarmUpStream(channel.endpoints[i % channel.endpoints.length]!)),
  );
  try {
    for (let n = 1; n <= WARM_UP_MESSAGES; n++) {
      const answer = await channel.post(n);
      if (answer.status !== 201) throw new Error(`warm-up post answered ${answer.status}`);
    }
    const deadline = performance.now() + 5_000;
    while (streams.some((s) => s.received() < WARM_UP_MESSAGES) && performance.now() < deadline) await sleep(50);
    const short = streams.filter((s) => s.received() < WARM_UP_MESSAGES).length;
    if (short) throw new Error(`${short} of ${streams.length} warm-up streams did not get all ${WARM_UP_MESSAGES} warm-up messages`);
  } finally {
    for (const stream of streams) stream.close();
  }
}

/**
 * Other work put on the server while it fans out (the pages scenario's burst of sign-ins):
 * `prepare` runs once the streams are open, and the function it answers is started, not awaited,
 * when message `atMessage` is posted; what it answers describes it in the run's result.
 */
export type SideLoad = { atMessage: number; prepare: (target: Target) => Promise<() => Promise<string>> };

export async function measure(
  kind: TargetKind,
  scenario: Scenario,
  options: AppOptions & ServerOptions,
  log: (line: string) => void,
  sideLoad?: SideLoad,
): Promise<RunResult> {
  const started = performance.now();
  const [target, pool] = await Promise.all([startTarget(kind, options), SubscriberPool.start(scenario.workers)]);
  try {
    await warmUp(await target.channel('warm-up'));
    const channel = await target.channel('bench');
    await settle(target.pids);
    const rssBeforeBytes = sum(target.pids.map(rssBytes));

    const open = await pool.open(scenario.subscribers, channel.endpoints, scenario.messages, {
      concurrency: scenario.openConcurrency,
      timeoutMs: 30_000,
    });
    if (open.failed) log(`    ${open.failed} streams failed to open: ${open.failures.join('; ')}`);
    const quiet = await settle(target.pids);
    const rssAfterBytes = sum(target.pids.map(rssBytes));
    const clockSkewMs = await pool.clockSkew();
    const fireSideLoad = await sideLoad?.prepare(target);
    let sideLoadDone: Promise<string> | undefined;

    // Posting: one at a time, no faster than the rate.
    const sentAt: number[] = new Array<number>(scenario.messages + 1).fill(Number.NaN);
    const postRoundTrips: number[] = [];
    let postFailures = 0;
    const interval = 1000 / scenario.rate;
    const cpuBefore = sum(target.pids.map(cpuMs));
    const databaseName = target.databaseName;
    const watch = new CpuWatch({
      server: () => target.pids,
      postgres: () => (databaseName ? postgresPidsFor(databaseName) : []),
      readers: () => pool.pids,
      driver: () => [process.pid],
    });
    watch.start();
    const postingStarted = performance.now();
    for (let n = 1; n <= scenario.messages; n++) {
      const due = postingStarted + (n - 1) * interval;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (n === sideLoad?.atMessage) sideLoadDone = fireSideLoad?.();
      try {
        const answer = await channel.post(n);
        // The number the server gave it (one at a time, that is n).
        const id = answer.id ?? n;
        if (id >= 1 && id <= scenario.messages) sentAt[id] = answer.sentAt;
        postRoundTrips.push(answer.answeredAt - answer.sentAt);
        if (answer.status !== 201) postFailures++;
      } catch {
        postFailures++;
      }
    }
    const sideLoadReport = await sideLoadDone;
    const delivered = await pool.waitForDeliveries(10_000 + scenario.subscribers);
    const cpuAfter = sum(target.pids.map(cpuMs));
    const postingCpu = watch.stop();
    if (!delivered) log('    not every stream got every message within the wait');
    const deliveries = await pool.collect();

    const lastLatencies: number[] = [];
    const firstLatencies: number[] = [];
    let completeMessages = 0;
    const timeline: RunResult['timeline'] = [];
    for (let id = 1; id <= scenario.messages; id++) {
      const sent = sentAt[id]!;
      timeline.push([sent - sentAt[1]!, deliveries.firstAt[id]! - sent, deliveries.lastAt[id]! - sent, deliveries.receivedBy[id]!]);
      if (Number.isFinite(deliveries.firstAt[id]!)) firstLatencies.push(deliveries.firstAt[id]! - sent);
      if (deliveries.receivedBy[id] === deliveries.streams && deliveries.streams > 0) {
        completeMessages++;
        lastLatencies.push(deliveries.lastAt[id]! - sent);
      }
    }
    return {
      kind,
      scenario,
      opened: open.opened,
      openFailed: open.failed,
      openFailures: open.failures,
      openMs: open.ms,
      rssBeforeBytes,
      rssAfterBytes,
      rssPerStreamBytes: open.opened ? (rssAfterBytes - rssBeforeBytes) / open.opened : Number.NaN,
      lastLatencies,
      firstLatencies,
      postRoundTrips,
      postFailures,
      completeMessages,
      duplicates: deliveries.duplicates,
      missing: deliveries.missing + open.failed * scenario.messages,
      outOfOrder: deliveries.outOfOrder,
      badIds: deliveries.badIds,
      resyncs: deliveries.resyncs,
      namedEvents: deliveries.namedEvents,
      endedEarly: deliveries.endedEarly,
      serverCpuMsPerMessage: (cpuAfter - cpuBefore) / scenario.messages,
      postingCpu,
      clockSkewMs,
      settledQuietly: quiet.quiet,
      timeline,
      sideLoad: sideLoadReport,
      seconds: (performance.now() - started) / 1000,
    };
  } catch (error) {
    throw withDeathNotice(target, error);
  } finally {
    await pool.stop();
    await target.stop();
  }
}

export function describeRun(r: RunResult): string {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '—');
  return (
    `opened ${r.opened}/${r.scenario.subscribers} in ${(r.openMs / 1000).toFixed(1)} s · ` +
    `last-subscriber p50 ${f(percentile(r.lastLatencies, 50))} ms, p99 ${f(percentile(r.lastLatencies, 99))} ms ` +
    `(first p50 ${f(percentile(r.firstLatencies, 50))} ms, POST p50 ${f(percentile(r.postRoundTrips, 50))} ms) · ` +
    `complete ${r.completeMessages}/${r.scenario.messages}, dup ${r.duplicates}, missing ${r.missing}` +
    `${r.endedEarly ? `, ended early ${r.endedEarly}` : ''}${r.outOfOrder ? `, out of order ${r.outOfOrder}` : ''}` +
    `${r.badIds ? `, bad ids ${r.badIds}` : ''}${r.resyncs ? `, resyncs ${r.resyncs}` : ''}${r.postFailures ? `, failed posts ${r.postFailures}` : ''} · ` +
    `RSS/stream ${f(r.rssPerStreamBytes / 1024)} KiB · CPU/msg ${f(r.serverCpuMsPerMessage)} ms · ${r.seconds.toFixed(0)} s`
  );
}
