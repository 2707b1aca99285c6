/**
 * A subscriber worker: a child process that holds many SSE streams on raw sockets and records,
 * per message id, when each stream first got it. Forked by the driver (bench/run.ts), which talks
 * to it over IPC (bench/lib/protocol.ts). Kept apart from both the server and the driver so that
 * neither the file-descriptor limit nor the readers' CPU lands on the process being measured.
 *
 * Times are `performance.timeOrigin + performance.now()` (ms since the epoch, sub-ms precision),
 * comparable with the driver's post times on the same machine.
 */
import net from 'node:net';
import { requestHead } from './lib/http-head.ts';
import type { DeliveryReport, Endpoint, FromWorker, OpenSummary, ToWorker, UpTo } from './lib/protocol.ts';
import { SocketIoReader, upgradeRequest } from './lib/socketio-reader.ts';
import { SseReader } from './lib/sse-reader.ts';

const now = () => performance.timeOrigin + performance.now();

function send(message: FromWorker): void {
  process.send?.(message);
}

/** Per message id, over all of this worker's streams (channel c's id n at c × stride + n). */
let expectedMessages = 0;
let channels = 1;
let stride = 1;
let receivedBy = new Int32Array(1);
let firstAt = new Float64Array(1);
let lastAt = new Float64Array(1);
let delivered = 0;
let duplicates = 0;
let outOfOrder = 0;
let badIds = 0;
let resyncs = 0;
let namedEvents = 0;
let ended = 0;
let bytes = 0;
let keepAlives = 0;

type Stream = { socket: net.Socket; channel: number; seen: Uint8Array; highest: number; live: boolean };
const streams: Stream[] = [];
const readBuffer = Buffer.allocUnsafe(64 * 1024);

function openStream(endpoint: Endpoint, timeoutMs: number, localAddress: string | undefined): Promise<Stream> {
  return new Promise((resolve, reject) => {
    let reader: { push: (buffer: Buffer) => void } | undefined;
    let receivedAt = 0;
    const socket = net.connect({
      host: endpoint.host,
      port: endpoint.port,
      localAddress,
      // Reads land in one buffer shared by every socket (it is parsed before the next read), so a
      // read allocates nothing.
      onread: {
        buffer: readBuffer,
        callback: (size: number) => {
          // One timestamp per read: every frame in this read arrived together.
          receivedAt = now();
          bytes += size;
          try {
            reader?.push(readBuffer.subarray(0, size));
          } catch (error) {
            fail(`unreadable stream: ${(error as Error).message}`);
            socket.destroy();
          }
          return true;
        },
      },
    });
    const channel = endpoint.channel ?? 0;
    const base = channel * stride;
    const stream: Stream = { socket, channel, seen: new Uint8Array(expectedMessages + 1), highest: 0, live: false };
    let settled = false;
    const fail = (why: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(why));
    };
    const timer = setTimeout(() => fail('timeout'), timeoutMs);
    const handlers = {
      onHead: (status: number, statusLine: string) => {
        if (status !== (endpoint.protocol === 'socketio' ? 101 : 200)) fail(statusLine || 'no status line');
      },
      onBodyStarted: () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        stream.live = true;
        resolve(stream);
      },
      onFrame: (id: number, event: string, hadData: boolean) => {
        if (event === 'resync') resyncs++;
        else if (event !== '') namedEvents++;
        if (event !== '' || !hadData) return;
        if (id < 1 || id > expectedMessages) {
          badIds++;
          return;
        }
        if (stream.seen[id]) {
          duplicates++;
          return;
        }
        stream.seen[id] = 1;
        if (id < stream.highest) outOfOrder++;
        else stream.highest = id;
        delivered++;
        const count = ++receivedBy[base + id]!;
        if (count === 1) firstAt[base + id] = receivedAt;
        lastAt[base + id] = Math.max(lastAt[base + id]!, receivedAt);
      },
      onEnd: () => socket.end(),
      onComment: () => {
        keepAlives++;
      },
    };
    reader =
      endpoint.protocol === 'socketio'
        ? new SocketIoReader({ ...handlers, onRefused: (why) => fail(why), send: (bytes) => void socket.write(bytes) })
        : new SseReader(handlers);
    socket.setNoDelay(true);
    socket.on('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
    socket.on('close', () => {
      if (stream.live) {
        stream.live = false;
        ended++;
      }
      fail('closed before the stream started');
    });
    socket.write(
      endpoint.protocol === 'socketio' ? upgradeRequest(endpoint) : requestHead(endpoint, 'Accept: text/event-stream\r\nCache-Control: no-cache\r\n'),
    );
  });
}

async function openAll(message: Extract<ToWorker, { type: 'open' }>): Promise<OpenSummary> {
  expectedMessages = message.messages;
  channels = message.channels ?? 1;
  stride = expectedMessages + 1;
  receivedBy = new Int32Array(channels * stride);
  firstAt = new Float64Array(channels * stride).fill(Number.NaN);
  lastAt = new Float64Array(channels * stride).fill(Number.NEGATIVE_INFINITY);
  const started = now();
  const failures = new Map<string, number>();
  let next = 0;
  let failed = 0;
  const lane = async () => {
    while (next < message.count) {
      const index = message.firstIndex + next++;
      const endpoint = message.endpoints[index % message.endpoints.length]!;
      try {
        streams.push(await openStream(endpoint, message.openTimeoutMs, message.localAddress));
      } catch (error) {
        failed++;
        const why = (error as Error).message;
        failures.set(why, (failures.get(why) ?? 0) + 1);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(message.concurrency, message.count)) }, lane));
  return {
    opened: streams.length,
    failed,
    failures: [...failures].slice(0, 5).map(([why, n]) => `${why} ×${n}`),
    ms: now() - started,
  };
}

/** The highest id expected on a channel. */
const limit = (upTo: UpTo | undefined, channel: number) =>
  Math.min(upTo === undefined ? expectedMessages : typeof upTo === 'number' ? upTo : (upTo[channel] ?? 0), expectedMessages);

/** What this worker's streams saw of ids 1..upTo (all expected ids by default). */
function report(upTo?: UpTo): DeliveryReport {
  let missing = 0;
  for (const stream of streams) {
    const last = limit(upTo, stream.channel);
    for (let id = 1; id <= last; id++) if (!stream.seen[id]) missing++;
  }
  // One channel: only ids 0..upTo; several: the whole layout (channel c at c × stride).
  const length = channels === 1 ? limit(upTo, 0) + 1 : channels * stride;
  const plain = (values: Float64Array) => Array.from(values.subarray(0, length), (v) => (Number.isFinite(v) ? v : Number.NaN));
  return {
    streams: streams.length,
    receivedBy: Array.from(receivedBy.subarray(0, length)),
    firstAt: plain(firstAt),
    lastAt: plain(lastAt),
    duplicates,
    missing,
    outOfOrder,
    badIds,
    resyncs,
    namedEvents,
    endedEarly: ended,
    bytes,
    keepAlives,
  };
}

function closeAll(): void {
  for (const stream of streams) stream.socket.destroy();
}

process.on('message', (raw) => {
  const message = raw as ToWorker;
  switch (message.type) {
    case 'open':
      openAll(message).then(
        (summary) => send({ type: 'opened', summary }),
        (error: unknown) => send({ type: 'fatal', error: String(error) }),
      );
      break;
    case 'clock':
      send({ type: 'clock', sentAt: message.sentAt, workerNow: now() });
      break;
    case 'status':
      send({
        type: 'status',
        delivered,
        expected: streams.reduce((total, stream) => total + limit(message.upTo, stream.channel), 0),
        ended,
        keepAlives,
        open: streams.filter((s) => s.live).length,
      });
      break;
    case 'collect':
      send({ type: 'report', report: report(message.upTo) });
      break;
    case 'exit':
      closeAll();
      process.disconnect?.();
      process.exit(0);
  }
});

// The driver going away (crash, Ctrl-C) must not leave thousands of sockets behind.
process.on('disconnect', () => {
  closeAll();
  process.exit(0);
});
// Never outlive a run by much, whatever happens to the driver.
const lifetime = Number(process.env.BENCH_WORKER_MAX_MS ?? 15 * 60_000);
setTimeout(() => {
  closeAll();
  process.exit(3);
}, lifetime).unref();

send({ type: 'ready' });
