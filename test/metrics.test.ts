/**
 * Every `tablo_*` metric the README lists moves, on the real `/metrics`, when its event happens
 * (and only then, where a count can be exact). Covered elsewhere: open streams and bus reconnects
 * (instances.test.ts), closes as `access-ended` and `signed-out` (stream-race.test.ts), slow
 * readers (stream-load.test.ts), request durations by route (operations.test.ts).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import pg from 'pg';
import { type TestApp, startTestApp } from './support/app.ts';
import { createTablo, type Person, registerPerson } from './support/client.ts';
import { addMember, eventually, postMessage, postOk } from './support/discussion.ts';
import { metric, metrics } from './support/metrics.ts';
import { secondSession, Streams } from './support/members.ts';
import { openStream, type SseStream } from './support/sse.ts';

let app: TestApp;
let ada: Person;
let bob: Person;
before(async () => {
  // The Postgres bus: an instance hears its own notices, and counts them.
  app = await startTestApp({ env: { REALTIME_BUS: 'postgres' } });
  [ada, bob] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob')]);
});
after(() => app.close());

const streams = new Streams();
const discussion = (person: Person, tabloId: number) => streams.add(openStream(person.client, tabloId));
afterEach(async () => {
  streams.closeAll();
  await eventually(async () => app.live.openStreams === 0, 10_000, 'every stream to be closed');
});

async function tabloWithBob(title: string): Promise<number> {
  const tablo = await createTablo(ada, title);
  await addMember(app.db, tablo, bob.id);
  await ada.client.get(`/tablos/${tablo}`);
  return tablo;
}

const heard = (kind: string) => `tablo_bus_notifications_total{kind="${kind}"}`;
const closed = (reason: string) => `tablo_streams_closed_total{reason="${reason}"}`;

/** Waits until `sample` has grown past `before` (a notice is heard a moment after its commit). */
const grows = (sample: string, before: number) => eventually(async () => (await metric(app, sample)) > before, 10_000, `${sample} to grow`);

describe('messages', () => {
  it('tablo_messages_posted_total counts each stored message once; a retried client_token adds nothing', async () => {
    const tablo = await tabloWithBob('Counted posts');
    const before = await metric(app, 'tablo_messages_posted_total');
    await postOk(ada, tablo, 'one');
    await postOk(bob, tablo, 'two', 'retry-token');
    assert.equal(await metric(app, 'tablo_messages_posted_total'), before + 2);
    assert.equal((await postMessage(bob, tablo, 'two', { clientToken: 'retry-token' })).status, 201, 'the retry is answered');
    assert.equal(await metric(app, 'tablo_messages_posted_total'), before + 2, 'but not stored, nor counted, again');
  });

  it('tablo_stream_events_written_total{kind="message"} counts each write to each stream; tablo_publish_to_write_seconds one observation per published change', async () => {
    const tablo = await tabloWithBob('Counted writes');
    const readers = [await discussion(ada, tablo), await discussion(bob, tablo)];
    const [written, published] = await metrics(app, ['tablo_stream_events_written_total{kind="message"}', 'tablo_publish_to_write_seconds_count']);
    const posted = [await postOk(ada, tablo, 'to both'), await postOk(bob, tablo, 'and again')];
    for (const reader of readers) await reader.waitForId(posted[1]!.seq);
    assert.deepEqual(
      await metrics(app, ['tablo_stream_events_written_total{kind="message"}', 'tablo_publish_to_write_seconds_count']),
      [written! + 4, published! + 2],
      'two messages written to two streams; two publications',
    );
  });

  it('tablo_stream_events_written_total{kind="named"} counts named events (activity on /events)', async () => {
    const tablo = await tabloWithBob('Counted named');
    const events = await streams.add(openStream(bob.client, 0, { url: '/events' }));
    assert.equal(events.status, 200);
    const before = await metric(app, 'tablo_stream_events_written_total{kind="named"}');
    const message = await postOk(ada, tablo, 'for Bob’s list');
    await events.waitFor((s) => s.events.some((e) => e.type === 'activity' && e.data.includes(`"seq":${message.seq}`)), 10_000, 'activity');
    assert.ok((await metric(app, 'tablo_stream_events_written_total{kind="named"}')) >= before + 1);
  });
});

describe('the bus', () => {
  it('tablo_bus_notifications_total counts tablo, invitations, close, presence and read notices as they are heard', async () => {
    const tablo = await tabloWithBob('Counted notices');
    const cat = await registerPerson(app.url, 'Cat');

    let before = await metric(app, heard('presence'));
    const bobs = await discussion(bob, tablo);
    await grows(heard('presence'), before);

    before = await metric(app, heard('read'));
    await bobs.waitFor((s) => s.retries.length > 0);
    const read = await postOk(ada, tablo, 'read live by Bob');
    await bobs.waitForId(read.seq);
    await grows(heard('read'), before); // his position is saved about a second later, then announced

    before = await metric(app, heard('tablo'));
    assert.equal((await ada.client.post(`/tablos/${tablo}/rename`, { title: 'Renamed, counted' })).status, 303);
    await grows(heard('tablo'), before);

    before = await metric(app, heard('invitations'));
    assert.equal((await ada.client.post(`/tablos/${tablo}/members`, { email: cat.email })).status, 303);
    await grows(heard('invitations'), before);

    before = await metric(app, heard('close'));
    assert.equal((await ada.client.post(`/tablos/${tablo}/members/${bob.id}/remove`)).status, 303);
    await grows(heard('close'), before);
    assert.equal(await bobs.ended, 'ended');
  });
});

describe('tablo_streams_closed_total', () => {
  it('counts a stream its reader closed as client', async () => {
    const tablo = await tabloWithBob('Closed by the reader');
    const before = await metric(app, closed('client'));
    const s = await discussion(bob, tablo);
    await s.waitFor((x) => x.retries.length > 0);
    s.close();
    await eventually(async () => (await metric(app, closed('client'))) === before + 1, 10_000, 'the close to be counted as client');
  });

  it('counts the streams of a session renewed by a password change as session-renewed, and the other sessions’ as signed-out', async () => {
    const dan = await registerPerson(app.url, 'Dan');
    const tablo = await createTablo(dan, 'Renewed');
    const elsewhere = await secondSession(app.url, dan);
    const [renewedBefore, signedOutBefore] = await metrics(app, [closed('session-renewed'), closed('signed-out')]);
    const here = await discussion(dan, tablo);
    const there = await discussion(elsewhere, tablo);
    for (const s of [here, there]) await s.waitFor((x) => x.retries.length > 0);
    await dan.client.get('/settings');
    const changed = await dan.client.post('/settings/password', { current_password: dan.password, new_password: 'another long one' });
    assert.equal(changed.status, 303);
    for (const s of [here, there]) assert.equal(await s.ended, 'ended');
    assert.equal(there.events.at(-1)?.type, 'signed-out', there.describe());
    assert.ok(!here.events.some((e) => e.type === 'signed-out'), `this session's stream just ends, to come back: ${here.describe()}`);
    assert.deepEqual(await metrics(app, [closed('session-renewed'), closed('signed-out')]), [renewedBefore! + 1, signedOutBefore! + 1]);
  });

  it('counts streams ended by a shutdown as shutdown, and one whose database failed as it opened as error', async () => {
    const admin = async (statement: string) => {
      const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
      client.on('error', () => {});
      await client.connect();
      try {
        await client.query(statement);
      } finally {
        await client.end();
      }
    };
    const doomed = await startTestApp({
      // An idle pooled connection whose backend is terminated says one or the other, by a race; a
      // page's queries run side by side, so several may be idle.
      expectErrors: [/terminating connection due to administrator command|is not currently accepting connections|Connection terminated unexpectedly/],
    });
    const open: SseStream[] = [];
    try {
      const eve = await registerPerson(doomed.url, 'Eve');
      const tablo = await createTablo(eve, 'Counted ends');
      const name = new URL(doomed.databaseUrl).pathname.slice(1);
      const count = async (reason: string) => (await doomed.live.metrics.streamsClosed.get()).values.find((v) => v.labels.reason === reason)?.value ?? 0;

      // The database goes away between the route's checks and the stream's own read (the tests' seam).
      doomed.live.beforeSubscribe = async () => {
        doomed.live.beforeSubscribe = undefined;
        await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
        await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`);
      };
      const failed = await openStream(eve.client, tablo);
      open.push(failed);
      assert.equal(failed.status, 503);
      assert.equal(await metric(doomed, closed('error')), 1);
      await admin(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);

      const lasting = [await openStream(eve.client, tablo), await openStream(eve.client, 0, { url: '/events' })];
      open.push(...lasting);
      for (const s of lasting) assert.equal(s.status, 200);
      assert.equal(await count('shutdown'), 0);
      await doomed.stop(); // /metrics is gone with it: the counter is read in the process
      for (const s of lasting) assert.equal(await s.ended, 'ended');
      assert.equal(await count('shutdown'), 2);
    } finally {
      for (const s of open) s.close();
      await doomed.close();
    }
  });
});

describe('tablo_http_request_duration_seconds', () => {
  it('leaves streams out, even one the server ended in full', async () => {
    const tablo = await tabloWithBob('Not timed');
    const page = await bob.client.get(`/tablos/${tablo}/discussion`);
    assert.equal(page.status, 200);
    const s = await discussion(bob, tablo);
    await s.waitFor((x) => x.retries.length > 0);
    // Ended by the server (a response that finishes), not dropped by the reader.
    assert.equal((await ada.client.post(`/tablos/${tablo}/members/${bob.id}/remove`)).status, 303);
    assert.equal(await s.ended, 'ended');
    const text = await (await fetch(new URL('/metrics', app.url))).text();
    assert.match(text, /^tablo_http_request_duration_seconds_count\{method="GET",route="\/tablos\/:tabloId\/discussion",status="200"\} [1-9]/m);
    assert.doesNotMatch(text, /route="[^"]*stream"/);
  });
});
