/**
 * A stream's HTTP response (responseSink) over a real socket: frames written straight to the
 * socket must still be valid HTTP/1.1 chunks, end with the last chunk (so the connection can be
 * reused), and a HEAD request must get no body at all.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Broker } from '../src/live/broker.ts';
import { streamOwner } from '../src/live/live.ts';
import { namedFrame } from '../src/live/sse.ts';
import { EventStream, responseSink, writeTogether } from '../src/live/stream.ts';

describe('a stream response written straight to its socket', () => {
  const broker = new Broker({ keepAliveMs: 60_000 });
  const streams: EventStream[] = [];
  let server: Server;
  let port: number;

  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/plain') return void res.end('plain');
      const stream = new EventStream(streamOwner(1, 'session-1'), responseSink(res));
      req.on('close', () => stream.close('client'));
      streams.push(stream);
      stream.open(broker);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    broker.stop();
    server.closeAllConnections();
    server.close();
  });

  /** Sends raw requests on one connection and answers everything read until `until` matches. */
  async function exchange(requests: string, until: RegExp): Promise<string> {
    const socket = connect(port, '127.0.0.1');
    socket.write(requests);
    let text = '';
    socket.setEncoding('latin1');
    for await (const chunk of socket) {
      text += chunk;
      if (until.test(text)) break;
    }
    socket.destroy();
    return text;
  }

  it('sends each event as one valid chunk, ends with the last chunk and keeps the connection', async () => {
    const reading = exchange('GET /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n', /plain$/);
    while (streams.length === 0) await new Promise((resolve) => setImmediate(resolve));
    const stream = streams.at(-1)!;
    const frame = namedFrame('presence', 'héllo'); // not ASCII: a chunk's size counts bytes
    broker.notifyPeople([1], frame);
    broker.notifyPeople([1], frame);
    stream.keepAlive();
    stream.close('signed-out');
    const text = await reading;
    const [head, rest] = text.split('\r\n\r\n', 2) as [string, string];
    assert.match(head, /^HTTP\/1\.1 200 OK/);
    assert.match(head, /Transfer-Encoding: chunked/i);
    // Decode the chunked body up to its last chunk; what follows is the next response.
    let body = Buffer.from(text.slice(head.length + 4), 'latin1');
    const decoded: Buffer[] = [];
    for (;;) {
      const lineEnd = body.indexOf('\r\n');
      const size = Number.parseInt(body.subarray(0, lineEnd).toString(), 16);
      assert.ok(Number.isInteger(size), `a chunk size line, got ${JSON.stringify(body.subarray(0, 20).toString())}`);
      if (size === 0) {
        body = body.subarray(lineEnd + 4);
        break;
      }
      decoded.push(body.subarray(lineEnd + 2, lineEnd + 2 + size));
      assert.equal(body.subarray(lineEnd + 2 + size, lineEnd + 4 + size).toString(), '\r\n', 'each chunk ends with CRLF');
      body = body.subarray(lineEnd + 4 + size);
    }
    const events = Buffer.concat(decoded).toString('utf8');
    assert.equal(events, `retry: 2000\n: connected\n\n${frame}${frame}: keep-alive\n\n${namedFrame('signed-out')}`);
    assert.ok(rest.length > 0);
    assert.match(body.toString('latin1'), /^HTTP\/1\.1 200 OK[\s\S]*plain$/, 'the connection serves the next request');
  });

  it('answers a HEAD request with headers only, and the connection stays usable', async () => {
    const reading = exchange('HEAD /stream HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n', /plain$/);
    const opened = streams.length;
    while (streams.length === opened) await new Promise((resolve) => setImmediate(resolve));
    broker.notifyPeople([1], namedFrame('presence', '1'));
    streams.at(-1)!.close('signed-out');
    const text = await reading;
    const [head, next] = text.split('\r\n\r\n', 2) as [string, string];
    assert.match(head, /^HTTP\/1\.1 200 OK/);
    assert.match(next, /^HTTP\/1\.1 200 OK/, 'nothing between the HEAD answer and the next response');
  });

  it('writes a burst to each reader in one system call (writeTogether), and a lone event as before', async () => {
    const reading = exchange('GET /stream HTTP/1.1\r\nHost: x\r\n\r\n', /burst 3/);
    const opened = streams.length;
    while (streams.length === opened) await new Promise((resolve) => setImmediate(resolve));
    const stream = streams.at(-1)!;
    // Counted where the socket hands bytes to the kernel: one _write or one _writev a system call.
    const socket = (stream as unknown as { res: { socket: { _write: (...a: unknown[]) => void; _writev: (...a: unknown[]) => void } } }).res.socket;
    const calls: string[] = [];
    for (const name of ['_write', '_writev'] as const) {
      const original = socket[name].bind(socket);
      socket[name] = (...args: unknown[]) => {
        calls.push(name);
        original(...args);
      };
    }
    broker.notifyPeople([1], namedFrame('presence', 'lone'));
    assert.deepEqual(calls, ['_write'], 'a lone event: one write');
    calls.length = 0;
    writeTogether(() => {
      for (const n of [1, 2, 3]) broker.notifyPeople([1], namedFrame('presence', `burst ${n}`));
    });
    assert.deepEqual(calls, ['_writev'], 'three events: one writev');
    const text = await reading;
    assert.match(text, /lone[\s\S]*burst 1[\s\S]*burst 2[\s\S]*burst 3/, 'in order');
    stream.close('client');
  });
});
