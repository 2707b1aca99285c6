/**
 * Tablo as separate processes (`src/main.ts`, as it runs in production) next to an in-process
 * instance on the same database: what a crash leaves behind, and what a SIGTERM shows a load
 * balancer before the process stops accepting.
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { TabloProcess } from '../e2e/support/server.ts';
import { type TestApp, startTestApp } from './support/app.ts';
import { createTablo, type Person, registerPerson } from './support/client.ts';
import { addMember, eventually } from './support/discussion.ts';
import { latestPresence, onInstance } from './support/members.ts';
import { openStream, type SseStream } from './support/sse.ts';

/** Short, so that ageing out takes seconds; every instance on the database must agree on it. */
const FRESH_MS = 2_000;
const env = { REALTIME_BUS: 'postgres', PRESENCE_FRESH_MS: String(FRESH_MS) };

let a: TestApp;
let ada: Person;
before(async () => {
  a = await startTestApp({ env });
  ada = await registerPerson(a.url, 'Ada');
});
after(() => a.close());


const presenceRows = async (tabloId: number, userId: number) =>
  Number((await sql<{ n: string }>`SELECT count(*) AS n FROM presence WHERE tablo_id = ${tabloId} AND user_id = ${userId}`.execute(a.db)).rows[0]!.n);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('an instance that crashes', () => {
  it('leaves presence that ages out: the other instance’s open discussion and page drop its people', async () => {
    // B signs the same cookies as A (startTestApp's secret), so one session browses both.
    const b = await TabloProcess.start(a.databaseUrl, { ...env, SESSION_SECRET: 'test-secret-test-secret-test-secret' });
    const streams: SseStream[] = [];
    try {
      const bob = await registerPerson(a.url, 'Bob');
      const tablo = await createTablo(ada, 'Crash');
      await addMember(a.db, tablo, bob.id);
      const adas = await openStream(ada.client, tablo);
      streams.push(adas);
      assert.equal(adas.status, 200);
      const bobs = await openStream((await onInstance({ url: b.url }, bob)).client, tablo);
      streams.push(bobs);
      assert.equal(bobs.status, 200);
      await adas.waitFor((s) => latestPresence(s)?.includes(bob.id) === true, 10_000, 'Bob (on B) shown on A');

      // While B lives, its heartbeat keeps Bob fresh well past the freshness window.
      await sleep(FRESH_MS * 2);
      assert.deepEqual(latestPresence(adas)?.sort(), [ada.id, bob.id].sort(), 'Bob still shown while B runs');
      assert.equal(await presenceRows(tablo, bob.id), 1);

      await b.crash();
      // No goodbye came from B: only ageing out can drop Bob (a generous bound, not a measurement).
      await adas.waitFor((s) => latestPresence(s)?.includes(bob.id) === false, 10_000, 'Bob dropped from A’s open discussion');
      assert.deepEqual(latestPresence(adas), [ada.id]);
      const page = await ada.client.get(`/tablos/${tablo}/discussion`);
      assert.doesNotMatch(/<ul id="presence"[^>]*>([\s\S]*?)<\/ul>/.exec(page.html)?.[1] ?? '', new RegExp(`data-user-id="${bob.id}"`));
      assert.equal(await presenceRows(tablo, bob.id), 0, 'the crashed instance’s row is swept');
      assert.equal(adas.endedAs, undefined);
    } finally {
      for (const s of streams) s.close();
      await b.crash();
    }
  });
});

/** One GET: its status (or the connection error's code), and whether it went on a kept-alive connection. */
function exchange(url: string, path: string, agent: Agent | false): Promise<{ status: number | string; reused: boolean }> {
  return new Promise((resolve) => {
    const req = request(new URL(path, url), { agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ status: error.code ?? error.message, reused: req.reusedSocket }));
    req.end();
  });
}

/** A GET on a new connection: its status, or the connection error's code. */
const probe = async (url: string, path: string) => (await exchange(url, path, false)).status;

describe('SIGTERM', () => {
  it('turns /readyz 503 for the drain while everything else is still served, then stops accepting and exits 0', async () => {
    // Long enough for the probes below on a busy machine; the suite pays it once.
    const drainMs = 5_000;
    const server = await TabloProcess.start(a.databaseUrl, { SHUTDOWN_DRAIN_MS: String(drainMs), HTTP_KEEPALIVE_TIMEOUT_MS: '60000' });
    const keptAlive = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      assert.deepEqual(await exchange(server.url, '/readyz', keptAlive), { status: 200, reused: false });
      const stopped = server.stop();
      await eventually(async () => (await probe(server.url, '/readyz')) === 503, drainMs, '/readyz to turn 503 on a new connection');
      assert.deepEqual(await exchange(server.url, '/readyz', keptAlive), { status: 503, reused: true }, 'and on the kept-alive one');
      assert.equal(await probe(server.url, '/healthz'), 200, 'the process still serves');
      assert.equal(await probe(server.url, '/login'), 200, 'so do pages');
      await stopped; // exit code 0 within the bound, no unexpected error logged
      assert.equal(await probe(server.url, '/readyz'), 'ECONNREFUSED', 'after the drain nobody listens');
    } finally {
      keptAlive.destroy();
      await server.crash();
    }
  });
});
