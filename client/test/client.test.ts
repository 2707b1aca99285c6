import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { parseSse, type StreamItem, TabloClient, TabloError } from '@tablo/client';

/**
 * @tablo/client against a real local HTTP server that plays Tablo's part (statuses, Retry-After,
 * dropped connections, SSE): the SSE parser, the retry rules and the reconnecting iterator.
 */
const servers: Server[] = [];
after(() => Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve)))));

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<string> {
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => handler(req, res, body));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function collect<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
}

function chunks(...parts: string[]): AsyncIterable<Uint8Array> {
  return (async function* () {
    for (const part of parts) yield new TextEncoder().encode(part);
  })();
}

const message = (id: number, seq: number) => ({
  id, seq, version: 1, author: { id: 1, name: 'A', handle: 'a' }, body: `m${id}`, created_at: new Date(0).toISOString(),
  edited_at: null, deleted: false, reply_to: null, reactions: [],
});
const frame = (seq: number) => `id: ${seq}\nevent: message.created\ndata: ${JSON.stringify({ seq, type: 'message.created', message: message(seq, seq) })}\n\n`;

describe('parseSse', () => {
  it('splits on CRLF, LF and CR (even across chunks), joins data lines, skips comments, keeps ids', async () => {
    const events = await collect(parseSse(chunks('\uFEFFretry: 2000\n: hello\n\nid: 1\r', '\ndata: a\rdata: b\r\n\r', '\nevent: x\ndata\n\nid: bad\u0000\ndata: c\n\ndata: unfinished')));
    assert.deepEqual(events.map((e) => [e.type, e.data, e.id, e.lastEventId]), [
      ['message', 'a\nb', '1', '1'],
      ['x', '', undefined, '1'],
      ['message', 'c', undefined, '1'],
    ]);
  });

  it('reads a fetch body (a ReadableStream) whose multi-byte characters are split between chunks', async () => {
    const bytes = new TextEncoder().encode('data: 😀é\n\n');
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        for (const byte of bytes) controller.enqueue(new Uint8Array([byte]));
        controller.close();
      },
    });
    assert.deepEqual((await collect(parseSse(body))).map((e) => e.data), ['😀é']);
  });
});

describe('TabloClient', () => {
  it('retries a post after a dropped connection, a 503 and a 429 (Retry-After), with the same client_token', async () => {
    const seen: { token: string; status: number }[] = [];
    const url = await serve((req, res, body) => {
      const input = JSON.parse(body) as { body: string; client_token: string };
      assert.equal(req.headers.authorization, 'Bearer tablo_x');
      const attempt = seen.length;
      if (attempt === 0) {
        seen.push({ token: input.client_token, status: 0 });
        req.socket.destroy();
        return;
      }
      const status = attempt === 1 ? 503 : attempt === 2 ? 429 : 201;
      seen.push({ token: input.client_token, status });
      res.writeHead(status, { 'Content-Type': 'application/json', ...(status === 201 ? {} : { 'Retry-After': '0' }) });
      res.end(JSON.stringify(status === 201 ? { message: message(7, 7) } : { error: 'later' }));
    });
    const client = new TabloClient({ baseUrl: url, token: 'tablo_x', backoff: { initialMs: 1, maxMs: 5 } });
    const posted = await client.post(1, 'hello');
    assert.equal(posted.id, 7);
    assert.deepEqual(seen.map((s) => s.status), [0, 503, 429, 201]);
    assert.equal(new Set(seen.map((s) => s.token)).size, 1, 'one client_token for every attempt');
    const other = await client.post(1, 'again').catch(() => undefined);
    assert.equal(other?.id, 7);
    assert.notEqual(seen.at(-1)!.token, seen[0]!.token, 'a fresh client_token per message');
  });

  it('gives up with a TabloError on 4xx answers other than 429, without retrying', async () => {
    let calls = 0;
    const url = await serve((_req, res) => {
      calls++;
      res.writeHead(422, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: 'Write something before sending.' }));
    });
    const client = new TabloClient({ baseUrl: url, token: 'tablo_x' });
    await assert.rejects(client.post(1, ''), (error: unknown) => error instanceof TabloError && error.status === 422 && /Write something/.test(error.message));
    assert.equal(calls, 1);
  });

  it('events: reconnects after drops and a 503, resumes with Last-Event-ID, never twice, and follows resync', async () => {
    const requests: { after: string | null; lastEventId: string | undefined }[] = [];
    const url = await serve((req, res) => {
      const query = new URL(req.url!, 'http://x').searchParams;
      requests.push({ after: query.get('after'), lastEventId: req.headers['last-event-id'] as string | undefined });
      const from = Number(req.headers['last-event-id'] ?? 0);
      const n = requests.length;
      if (n === 3) {
        res.writeHead(503, { 'Retry-After': '0', 'Content-Type': 'application/json' }).end('{"error":"db"}');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write('retry: 2000\n: connected\n\n');
      if (n === 1) {
        // Two events, a repeat of the first, then the connection drops mid-event.
        res.write(frame(from + 1) + frame(from + 2) + frame(from + 1) + 'id: 3\nevent: message.cr');
        setTimeout(() => res.destroy(), 20);
      } else if (n === 2) {
        res.end(frame(from + 1));
      } else if (n === 4) {
        res.write(`id: 600\nevent: resync\ndata: \n\n`);
        res.write(frame(601));
      }
    });
    const client = new TabloClient({ baseUrl: url, token: 'tablo_x', backoff: { initialMs: 1, maxMs: 10 } });
    const controller = new AbortController();
    const items: StreamItem[] = [];
    for await (const item of client.events(5, { signal: controller.signal })) {
      items.push(item);
      if (items.length === 5) controller.abort();
    }
    assert.deepEqual(items.map((i) => [i.type, i.seq]), [
      ['message.created', 1],
      ['message.created', 2],
      ['message.created', 3],
      ['resync', 600],
      ['message.created', 601],
    ]);
    assert.deepEqual(requests.map((r) => r.lastEventId), ['0', '2', '3', '3']);
    assert.deepEqual(requests.map((r) => r.after), ['0', '2', '3', '3']);
  });

  it('events: a 401 or 404 ends the iterator with a TabloError; leaving the loop closes the connection', async () => {
    let closed = false;
    let status = 401;
    const url = await serve((req, res) => {
      if (status !== 200) {
        res.writeHead(status, { 'Content-Type': 'application/json' }).end('{"error":"no"}');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      res.write(frame(1));
      req.socket.on('close', () => (closed = true));
    });
    const client = new TabloClient({ baseUrl: url, token: 'tablo_x' });
    await assert.rejects(collect(client.events(1)), (e: unknown) => e instanceof TabloError && e.status === 401);
    status = 404;
    await assert.rejects(collect(client.events(1)), (e: unknown) => e instanceof TabloError && e.status === 404);
    status = 200;
    for await (const item of client.events(1)) {
      assert.equal(item.seq, 1);
      break;
    }
    const deadline = Date.now() + 5_000;
    while (!closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.ok(closed, 'the server saw the connection close');
  });
});
