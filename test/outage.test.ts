/**
 * A database outage is not a sign-out. Tablo runs on its own throwaway PostgreSQL, which these
 * tests stop under open streams and start again: meanwhile every request that needs the session,
 * the person or the tablo answers 503 with Retry-After (never 401, never a redirect to sign in),
 * and once the database is back the streams resume from their cursor, each message exactly once.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { type EmbeddedDatabase, startEmbeddedPostgres } from '../src/db/embedded.ts';
import { isDatabaseUnavailable } from '../src/db/unavailable.ts';
import { createLogger } from '../src/web/logging.ts';
import { type TestApp, startTestApp } from './support/app.ts';

// A server stopping under load may also reset an idle pooled connection (ECONNRESET) rather than end it.
const OUTAGE_LOGGED = /ECONNREFUSED|ECONNRESET|terminating connection due to administrator command|Connection terminated|timeout exceeded when trying to connect|the database system is (shutting down|starting up)/;
import { createTablo, type Person, registerPerson } from './support/client.ts';
import { addMember, postMessage, postOk } from './support/discussion.ts';
import { freePort } from './support/ports.ts';
import { openStream, type SseStream } from './support/sse.ts';

const PORT = await freePort();
/** A port where nothing listens. */
const CLOSED_PORT = await freePort();

/** The throwaway PostgreSQL: its data folder (reachable by the `postgres` user when run as root). */
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'tablo-outage-'));
chmodSync(dataDir, 0o755);
const startDatabase = () => startEmbeddedPostgres({ dataDir, port: PORT, logger: createLogger('silent') });

describe('the database error classifier', () => {
  const withCode = (code: string) => Object.assign(new Error(`error ${code}`), { code });

  it('takes connection loss, shutdown, start-up and refusal for an outage', () => {
    for (const code of ['57P01', '57P02', '57P03', '08000', '08003', '08006', '08001', '53300', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT']) {
      assert.equal(isDatabaseUnavailable(withCode(code)), true, code);
    }
    assert.equal(isDatabaseUnavailable(new Error('Connection terminated unexpectedly')), true);
    assert.equal(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect')), true);
    const timedOut = new Error('Connection terminated due to connection timeout', { cause: new Error('Connection terminated unexpectedly') });
    assert.equal(isDatabaseUnavailable(timedOut), true);
    assert.equal(isDatabaseUnavailable(new AggregateError([withCode('ECONNREFUSED'), withCode('ECONNREFUSED')])), true);
    assert.equal(isDatabaseUnavailable(new Error('wrapped', { cause: withCode('57P03') })), true);
  });

  it('takes a wrong query, a constraint or a plain bug for what it is', () => {
    for (const code of ['42601', '42P01', '23505', '22P02', '40001', '57014', 'ENOENT']) {
      assert.equal(isDatabaseUnavailable(withCode(code)), false, code);
    }
    assert.equal(isDatabaseUnavailable(new Error('Cannot read properties of undefined')), false);
    assert.equal(isDatabaseUnavailable(new TypeError('x is not a function')), false);
    for (const value of [undefined, null, 'ECONNREFUSED', 42, {}]) assert.equal(isDatabaseUnavailable(value), false);
  });

  it('recognises what pg really throws: refused, timed out, terminated by the server', async () => {
    const refused = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${CLOSED_PORT}/x` });
    const refusal = await refused.connect().then(() => undefined, (error: unknown) => error);
    assert.equal((refusal as { code?: string }).code, 'ECONNREFUSED');
    assert.equal(isDatabaseUnavailable(refusal), true);

    // A server that accepts and never answers: pg-pool's connectionTimeoutMillis gives up.
    const silent: Server = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const pool = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${port}/x`, connectionTimeoutMillis: 200 });
    const timeout = await pool.query('SELECT 1').then(() => undefined, (error: unknown) => error);
    await pool.end();
    silent.close();
    assert.ok(timeout instanceof Error, 'the pool gave up');
    assert.equal(isDatabaseUnavailable(timeout), true, `timeout: ${(timeout as Error).message}`);

    // An administrator (or a stopping server) ends the session: 57P01.
    const serverUrl = process.env.TEST_DATABASE_URL;
    assert.ok(serverUrl, 'TEST_DATABASE_URL');
    const victim = new pg.Client({ connectionString: serverUrl });
    const admin = new pg.Client({ connectionString: serverUrl });
    victim.on('error', () => {});
    await Promise.all([victim.connect(), admin.connect()]);
    const waiting = victim.query('SELECT pg_sleep(30)').then(() => undefined, (error: unknown) => error);
    const pid = (victim as unknown as { processID: number }).processID;
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const terminated = await waiting;
    await admin.end();
    await victim.end().catch(() => {});
    assert.equal((terminated as { code?: string }).code, '57P01');
    assert.equal(isDatabaseUnavailable(terminated), true);

    const wrong = new pg.Client({ connectionString: serverUrl });
    await wrong.connect();
    const bad = await wrong.query('SELEKT 1').then(() => undefined, (error: unknown) => error);
    await wrong.end();
    assert.equal((bad as { code?: string }).code, '42601');
    assert.equal(isDatabaseUnavailable(bad), false);
  });
});

describe('a database outage', () => {
  let database: EmbeddedDatabase | undefined;
  let app: TestApp;
  let ada: Person;
  let bob: Person;
  let tabloId: number;
  const streams: SseStream[] = [];

  before(async () => {
    database = await startDatabase();
    // The outage itself is logged: connections lost, presence and access checks that could not run.
    app = await startTestApp({ databaseUrl: database.url, expectErrors: [OUTAGE_LOGGED] });
    [ada, bob] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob')]);
    tabloId = await createTablo(ada, 'Through the outage');
    await addMember(app.db, tabloId, bob.id);
    await bob.client.get(`/tablos/${tabloId}/discussion`);
  });
  after(async () => {
    for (const s of streams) s.close();
    await app?.close();
    await database?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const stream = async (...args: Parameters<typeof openStream>) => {
    const s = await openStream(...args);
    streams.push(s);
    return s;
  };
  const personalStream = (person: Person) => stream(person.client, 0, { url: '/events' });

  it('answers 503 everywhere a signed-in request needs the database, streams included, and never 401; then every stream resumes, each message once', async () => {
    const before = await postOk(ada, tabloId, 'before the outage');
    const kept = await stream(ada.client, tabloId, { after: 0 });
    const dropped = await stream(bob.client, tabloId, { after: 0 });
    const personal = await personalStream(bob);
    await Promise.all([kept.waitForId(before.seq), dropped.waitForId(before.seq)]);
    assert.equal(personal.status, 200);

    await database!.stop();
    database = undefined;
    // Bob's connection drops during the outage (a network blip, a hidden tab): he must get back.
    dropped.close();
    await dropped.ended;

    const answers = await Promise.all([
      openStream(bob.client, tabloId, { lastEventId: before.seq }),
      openStream(ada.client, tabloId, { after: before.seq }),
      openStream(bob.client, 0, { url: '/events' }),
    ]);
    for (const answer of answers) {
      streams.push(answer);
      assert.equal(answer.status, 503, `stream ${answer.response.url}`);
      assert.equal(answer.response.headers.get('retry-after'), '5');
      await answer.ended;
      assert.match(answer.opening, /cannot reach its database/);
    }

    for (const url of [`/tablos/${tabloId}/discussion`, '/tablos', `/tablos/${tabloId}`]) {
      const page = await bob.client.get(url);
      assert.equal(page.status, 503, `page ${url} (not ${page.headers.get('location') ?? page.status})`);
      assert.equal(page.headers.get('location'), null);
      assert.equal(page.headers.get('retry-after'), '5');
      assert.match(page.html, /Tablo cannot reach its database; retrying/);
      assert.match(page.html, /<meta http-equiv="refresh" content="\d+">/, 'the page retries by itself');
    }
    const fragment = await bob.client.get(`/tablos/${tabloId}/discussion/messages?before=5`, { 'HX-Request': 'true' });
    assert.equal(fragment.status, 503);
    assert.equal(fragment.headers.get('content-type')?.split(';')[0], 'text/plain');
    const post = await postMessage(bob, tabloId, 'during the outage');
    assert.equal(post.status, 503, 'posting during the outage');
    assert.equal((await app.db.selectFrom('messages').select('id').execute().catch(() => 'unreachable')), 'unreachable');
    assert.equal((await fetch(new URL('/readyz', app.url))).status, 503);
    assert.equal((await fetch(new URL('/healthz', app.url))).status, 200, 'the process itself is fine');

    // The streams that stayed open were not ended as if their person had signed out.
    assert.equal(kept.endedAs, undefined);
    assert.equal(personal.endedAs, undefined);
    for (const s of [kept, personal]) assert.deepEqual(s.events.filter((e) => e.type === 'signed-out' || e.type === 'access-ended'), []);

    database = await startDatabase();
    // Back: what is posted while Bob is still away reaches him on reconnecting, from his cursor.
    const meanwhile = [await postOk(ada, tabloId, 'meanwhile 1'), await postOk(ada, tabloId, 'meanwhile 2')];
    const back = await stream(bob.client, tabloId, { after: 0, lastEventId: dropped.lastEventId });
    assert.equal(back.status, 200);
    await back.waitForId(meanwhile[1]!.seq);
    assert.deepEqual(back.messageIds, meanwhile.map((m) => m.seq), 'exactly what was posted meanwhile, once, in order');
    await kept.waitForId(meanwhile[1]!.seq);
    assert.deepEqual(kept.messageIds, [before.seq, ...meanwhile.map((m) => m.seq)], 'the open stream: each once');

    const live = await postOk(bob, tabloId, 'live again');
    await Promise.all([back.waitForId(live.seq), kept.waitForId(live.seq)]);
    assert.deepEqual(back.messageIds, [...meanwhile.map((m) => m.seq), live.seq]);
    assert.equal((await bob.client.get(`/tablos/${tabloId}/discussion`)).status, 200, 'pages answer again');
    assert.equal((await personalStream(bob)).status, 200, 'so does the personal stream');
  });

  it('a stream that cannot sign in for lack of a database answers 503 at once, before any stream header', async () => {
    database ??= await startDatabase();
    const ok = await stream(ada.client, tabloId);
    assert.equal(ok.status, 200);
    await database.stop();
    database = undefined;
    const started = Date.now();
    const refused = await stream(ada.client, tabloId);
    assert.equal(refused.status, 503);
    assert.notEqual(refused.response.headers.get('content-type')?.split(';')[0], 'text/event-stream');
    assert.ok(Date.now() - started < 7_000, 'within pg’s connection timeout');
    // Signed out is still signed out: no cookie, 401, database or not.
    const anonymous = await fetch(new URL(`/tablos/${tabloId}/discussion/stream`, app.url), { headers: { Accept: 'text/event-stream' } });
    assert.equal(anonymous.status, 401);
    database = await startDatabase();
    const again = await stream(ada.client, tabloId);
    assert.equal(again.status, 200);
  });
});
