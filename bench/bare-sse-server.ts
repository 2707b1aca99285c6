/**
 * The ceiling to compare Tablo's stream with: SSE fan-out on bare `node:http` — no framework, no
 * database, no sessions, no authorization. It frames and writes the way the app does (the same
 * headers, a `retry:` opening, one pre-built Buffer per message written to every response, Nagle
 * off) so that the difference measured is the app's own cost.
 *
 *   GET  /stream[?topic=t]   a stream; the response joins the topic's Set
 *   POST /post[?topic=t]     body = message text; frames `id: n` + an <article> like the app's
 *                            and writes it to every response in the topic; answers 201
 *
 * PORT (0 = any free port); KEEPALIVE_MS (default 15000, as the app): one timer writes
 * `: keep-alive` to every stream, as the app's broker does. WEB_CONCURRENCY (default 1): that
 * many node:cluster workers behind the port, as the app's; a post is numbered by the primary and
 * handed to every worker over the cluster's IPC (the app's workers share it through PostgreSQL).
 * Prints `bare SSE server listening on port N` once it (every worker) listens.
 */
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { articleHtml } from './lib/fragment.ts';

type Topic = { streams: Set<ServerResponse>; lastId: number };
const topics = new Map<string, Topic>();
const MAX_BUFFERED_BYTES = 512 * 1024; // as the app: a reader this far behind is dropped

function topicOf(url: URL): Topic {
  const name = url.searchParams.get('topic') ?? 'main';
  let topic = topics.get(name);
  if (!topic) topics.set(name, (topic = { streams: new Set(), lastId: 0 }));
  return topic;
}

/** One SSE frame: `id: n` and the fragment (bench/lib/fragment.ts). */
function frame(id: number, body: string): Buffer {
  return Buffer.from(`id: ${id}\ndata: ${articleHtml(id, body)}\n\n`);
}

function openStream(req: IncomingMessage, res: ServerResponse, topic: Topic): void {
  res.writeHead(200, {
    'Content-Type': 'text/event-stream; charset=utf-8',
    'Cache-Control': 'no-cache, no-transform',
    'X-Accel-Buffering': 'no',
  });
  res.flushHeaders();
  res.socket?.setNoDelay(true);
  res.write('retry: 2000\n: connected\n\n');
  topic.streams.add(res);
  req.on('close', () => topic.streams.delete(res));
}

function fanOut(topic: Topic, id: number, body: string): void {
  const bytes = frame(id, body);
  for (const stream of topic.streams) {
    stream.write(bytes);
    if (stream.writableLength > MAX_BUFFERED_BYTES) {
      topic.streams.delete(stream);
      stream.destroy();
    }
  }
}

/** Between a worker and the primary: a post to number, and a numbered post for every worker. */
type ClusterPost = { type: 'post'; topic: string; body: string; ref: number };
type ClusterMessage = { type: 'message'; topic: string; id: number; body: string; ref: number; from: number };
const waitingAnswers = new Map<number, ServerResponse>();
let nextRef = 0;

function post(req: IncomingMessage, res: ServerResponse, url: URL): void {
  const parts: Buffer[] = [];
  let size = 0;
  req.on('data', (part: Buffer) => {
    size += part.length;
    if (size <= 64 * 1024) parts.push(part);
  });
  req.on('end', () => {
    const body = Buffer.concat(parts).toString('utf8');
    if (cluster.isWorker) {
      const ref = ++nextRef;
      waitingAnswers.set(ref, res);
      process.send!({ type: 'post', topic: url.searchParams.get('topic') ?? 'main', body, ref } satisfies ClusterPost);
      return;
    }
    const topic = topicOf(url);
    const id = ++topic.lastId;
    fanOut(topic, id, body);
    res.writeHead(201, { 'Content-Type': 'text/plain' }).end(String(id));
  });
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'GET' && url.pathname === '/stream') return openStream(req, res, topicOf(url));
  if (req.method === 'POST' && url.pathname === '/post') return post(req, res, url);
  if (req.method === 'GET' && url.pathname === '/healthz') return void res.end('ok');
  res.writeHead(404).end();
});
server.keepAliveTimeout = 60_000;

// One timer for all streams, like the app's broker.
const KEEP_ALIVE = Buffer.from(': keep-alive\n\n');
const ticker = setInterval(() => {
  for (const topic of topics.values()) for (const stream of topic.streams) stream.write(KEEP_ALIVE);
}, Number(process.env.KEEPALIVE_MS ?? 15_000));
ticker.unref();

const workers = Number(process.env.WEB_CONCURRENCY ?? 1);
if (cluster.isPrimary && workers > 1) {
  const lastIds = new Map<string, number>();
  let listening = 0;
  cluster.on('message', (from, message: ClusterPost) => {
    const id = (lastIds.get(message.topic) ?? 0) + 1;
    lastIds.set(message.topic, id);
    const numbered: ClusterMessage = { type: 'message', topic: message.topic, id, body: message.body, ref: message.ref, from: from.id };
    for (const worker of Object.values(cluster.workers ?? {})) worker?.send(numbered);
  });
  cluster.on('listening', (_worker, address) => {
    if (++listening === workers) console.log(`bare SSE server listening on port ${address.port} (${workers} workers)`);
  });
  for (let i = 0; i < workers; i++) cluster.fork();
  const stopAll = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM');
    setTimeout(() => process.exit(0), 2_500).unref();
    cluster.on('exit', () => Object.keys(cluster.workers ?? {}).length === 0 && process.exit(0));
  };
  process.on('SIGTERM', stopAll);
  process.on('SIGINT', stopAll);
} else {
  if (cluster.isWorker) {
    process.on('message', (message: ClusterMessage) => {
      const topic = topicOf(new URL(`/?topic=${encodeURIComponent(message.topic)}`, 'http://localhost'));
      topic.lastId = message.id;
      fanOut(topic, message.id, message.body);
      if (message.from !== cluster.worker!.id) return;
      waitingAnswers.get(message.ref)?.writeHead(201, { 'Content-Type': 'text/plain' }).end(String(message.id));
      waitingAnswers.delete(message.ref);
    });
  }
  server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
    if (cluster.isPrimary) console.log(`bare SSE server listening on port ${(server.address() as AddressInfo).port}`);
  });
  process.on('SIGTERM', () => stop());
  process.on('SIGINT', () => stop());
}

function stop(): void {
  for (const topic of topics.values()) for (const stream of topic.streams) stream.end();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
}
