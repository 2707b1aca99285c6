/**
 * What a Node developer would pick instead of hand-made SSE: a Socket.IO server broadcasting to
 * a room. Written the way its documentation shows — no tuning beyond WebSocket-only transport
 * (so that no client sits on long-polling) — and with the same message shape as the other
 * targets (bench/lib/fragment.ts). No database, no sessions, no authorization: like the bare
 * server, it is a comparison for the fan-out, not for the app around it.
 *
 *   ws  /socket.io/?EIO=4&transport=websocket&topic=t   a connection; it joins room t
 *   POST /post[?topic=t]   body = message text; `io.to(t).emit('message', { id, html })`; 201, body = id
 *
 * PORT (0 = any free port); PING_INTERVAL_MS (Engine.IO's heartbeat, its default 25000).
 * Prints `socket.io server listening on port N` once it listens.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';
import { articleHtml } from './lib/fragment.ts';

const lastIds = new Map<string, number>();

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (req.method === 'POST' && url.pathname === '/post') {
    const topic = url.searchParams.get('topic') ?? 'main';
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (part: Buffer) => {
      size += part.length;
      if (size <= 64 * 1024) parts.push(part);
    });
    req.on('end', () => {
      const id = (lastIds.get(topic) ?? 0) + 1;
      lastIds.set(topic, id);
      io.to(topic).emit('message', { id, html: articleHtml(id, Buffer.concat(parts).toString('utf8')) });
      res.writeHead(201, { 'Content-Type': 'text/plain' }).end(String(id));
    });
    return;
  }
  if (req.method === 'GET' && url.pathname === '/healthz') return void res.end('ok');
  res.writeHead(404).end();
});
server.keepAliveTimeout = 60_000;

const pingInterval = Number(process.env.PING_INTERVAL_MS ?? 25_000);
const io = new Server(server, { transports: ['websocket'], serveClient: false, pingInterval });

io.on('connection', (socket) => {
  const topic = socket.handshake.query.topic;
  void socket.join(typeof topic === 'string' ? topic : 'main');
});

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  console.log(`socket.io server listening on port ${(server.address() as AddressInfo).port}`);
});

const stop = () => {
  void io.close();
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2_000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
