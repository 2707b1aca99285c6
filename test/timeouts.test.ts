import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, createTablo, registerPerson } from './support/client.ts';
import { postOk } from './support/discussion.ts';
import { openStream } from './support/sse.ts';

/**
 * Slow-loris limits with short settings, so each case takes seconds: headers within 1 s; a body
 * at 1 KiB/s or more over each 1 s window; streams never cut. Real sockets, real server.
 */
const HEADERS_MS = 1_000;
const WINDOW_MS = 1_000;
let app: TestApp;
before(async () => {
  app = await startTestApp({
    env: {
      HEADERS_TIMEOUT_MS: String(HEADERS_MS),
      MIN_BODY_BYTES_PER_SECOND: '1024',
      BODY_RATE_WINDOW_MS: String(WINDOW_MS),
      STREAM_KEEPALIVE_MS: '60000', // an idle stream then sends nothing for the whole test
    },
  });
});
after(() => app.close());

/** A raw connection: what it received, and when (if) the server closed it. */
function rawConnection(): { socket: Socket; received: () => string; closed: Promise<number> } {
  const port = Number(new URL(app.url).port);
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => {});
  let received = '';
  socket.setEncoding('utf8').on('data', (chunk: string) => (received += chunk));
  const opened = Date.now();
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - opened)));
  return { socket, received: () => received, closed };
}

/** Writes `text` in pieces of `size` bytes every `everyMs`, while the socket is open. */
async function trickle(socket: Socket, text: string, size: number, everyMs: number): Promise<void> {
  for (let i = 0; i < text.length && !socket.destroyed; i += size) {
    socket.write(text.slice(i, i + size));
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

const within = <T>(promise: Promise<T>, ms: number, what: string) =>
  Promise.race([promise, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms))]);

describe('slow clients', () => {
  it('headers sent slower than the deadline are cut', async () => {
    const { socket, received, closed } = rawConnection();
    const headers = `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(40)}\r\n\r\n`;
    void trickle(socket, headers, 1, 100); // ~7 s for the whole request
    const after = await within(closed, 5_000, 'the slow-header connection was cut');
    assert.ok(after >= HEADERS_MS - 100, `not before the deadline (${after} ms)`);
    assert.doesNotMatch(received(), /200 OK/);
  });

  it('a body trickling in below the minimum rate is cut', async () => {
    const { socket, received, closed } = rawConnection();
    const body = `email=${'b'.repeat(4_000)}`;
    socket.write(`POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${body.length}\r\n\r\n`);
    void trickle(socket, body, 50, 250); // 200 B/s: 20 s for the whole body
    await within(closed, 3 * WINDOW_MS + 2_000, 'the trickling body was cut');
    assert.equal(received(), '', 'no answer: the request never completed');
  });

  it('a body sent steadily above the minimum rate gets through, though it takes longer than the header deadline', async () => {
    const client = new Client(app.url);
    await client.get('/login');
    const cookie = client.cookieHeader();
    const fields = new URLSearchParams({ _csrf: client.csrfToken ?? '', email: 'nobody@example.test', password: 'not the password', padding: 'p'.repeat(12_000) });
    const body = fields.toString();
    const { socket, received, closed } = rawConnection();
    socket.write(
      `POST /login HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
        `Cookie: ${cookie}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`,
    );
    const started = Date.now();
    await trickle(socket, body, 512, 125); // 4 KiB/s: about 3 s
    await within(closed, 10_000, 'the answer');
    assert.ok(Date.now() - started > 2 * HEADERS_MS, 'the upload really outlasted the header deadline');
    // 401: the whole form arrived (the CSRF token at its start and the password were read) and was judged.
    assert.match(received(), /^HTTP\/1\.1 401 /);
  });

  it('an open stream idle for longer than every limit stays open, and still delivers', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    const tabloId = await createTablo(ada);
    const stream = await openStream(ada.client, tabloId);
    assert.equal(stream.status, 200);
    await new Promise((resolve) => setTimeout(resolve, HEADERS_MS + 3 * WINDOW_MS));
    assert.equal(stream.endedAs, undefined, 'still open');
    await postOk(ada, tabloId, 'still here');
    await stream.waitFor((s) => s.messages.length === 1, 5_000);
    stream.close();
  });
});
