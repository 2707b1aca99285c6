/**
 * A session that ends closes its streams, whatever ended it — here the ways that announce
 * nothing: a row deleted from the session store by an operator, or a session past its expiry —
 * within 10 s, on every instance. And a person holds at most MAX_STREAMS_PER_USER streams.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import { postOk } from './support/discussion.ts';
import { ended, openEvents, secondSession, Streams } from './support/members.ts';
import { openStream, type SseStream } from './support/sse.ts';

const WITHIN = 10_000;
/** Open streams' sessions are read again every half second here (5 s by default): the same check, sooner. */
const quickCheck = { ACCESS_CHECK_MS: '500' };
const twoInstances = { REALTIME_BUS: 'postgres', ...quickCheck };

async function endedSignedOut(stream: SseStream, started: number): Promise<number> {
  const how = await Promise.race([stream.ended, new Promise((resolve) => setTimeout(() => resolve('still open'), WITHIN + 2_000))]);
  assert.equal(how, 'ended', 'the server ended the stream');
  assert.ok(
    stream.events.some((e) => e.type === 'signed-out'),
    `the stream said signed-out (${stream.describe()})`,
  );
  const took = performance.now() - started;
  assert.ok(took <= WITHIN, `closed after ${Math.round(took)} ms`);
  return took;
}

async function deleteSessionsOf(app: TestApp, person: Person): Promise<void> {
  await sql`DELETE FROM sessions WHERE (sess->>'userId')::int = ${person.id}`.execute(app.db);
}

describe('a session ended in the store', () => {
  let app: TestApp;
  let ada: Person;
  let bob: Person;
  const streams = new Streams();
  before(async () => {
    app = await startTestApp({ env: quickCheck });
    [ada, bob] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob')]);
  });
  after(async () => {
    streams.closeAll();
    await app.close();
  });

  it('deleted by an operator: its discussion stream and /events close with signed-out, and the cookie no longer opens one', async () => {
    const tablo = await createTablo(ada, 'Deleted');
    const discussion = await streams.add(openStream(ada.client, tablo, { after: 0 }));
    const personal = await streams.add(openEvents(ada.client));
    assert.equal(discussion.status, 200);
    assert.equal(personal.status, 200);
    const started = performance.now();
    await deleteSessionsOf(app, ada);
    const took = await endedSignedOut(discussion, started);
    await endedSignedOut(personal, started);
    console.log(`session deleted → streams closed in ${Math.round(took)} ms`);
    // A new stream with the same cookie is a signed-out request now.
    const again = await streams.add(openStream(ada.client, tablo, { after: 0 }));
    assert.equal(again.status, 401);
    ada = await secondSession(app.url, ada);
  });

  it('expired: its streams close although its row is still there', async () => {
    const tablo = await createTablo(bob, 'Expired');
    const discussion = await streams.add(openStream(bob.client, tablo, { after: 0 }));
    const started = performance.now();
    await sql`UPDATE sessions SET expire = now() - interval '1 second' WHERE (sess->>'userId')::int = ${bob.id}`.execute(app.db);
    await endedSignedOut(discussion, started);
  });

  it('another session of the same person stays open', async () => {
    const tablo = await createTablo(ada, 'Two browsers');
    const other = await secondSession(app.url, ada);
    const kept = await streams.add(openStream(other.client, tablo, { after: 0 }));
    const gone = await streams.add(openStream(ada.client, tablo, { after: 0 }));
    const started = performance.now();
    const cookieSid = /^s:([^.]+)\./.exec(decodeURIComponent(ada.client.cookie('tablo.sid') ?? ''))?.[1];
    assert.ok(cookieSid, 'the session id from the cookie');
    await sql`DELETE FROM sessions WHERE sid = ${cookieSid}`.execute(app.db);
    await endedSignedOut(gone, started);
    await postOk(other, tablo, 'still here');
    await kept.waitForId(1);
    assert.equal(kept.endedAs, undefined);
  });
});

describe('a session ended in the store, with two instances', () => {
  let a: TestApp;
  let b: TestApp;
  let ada: Person;
  const streams = new Streams();
  before(async () => {
    a = await startTestApp({ env: twoInstances });
    b = await startTestApp({ databaseUrl: a.databaseUrl, env: twoInstances });
    ada = await registerPerson(a.url, 'Ada');
  });
  after(async () => {
    streams.closeAll();
    await b.stop();
    await a.close();
  });

  it('deleted through one instance’s database: the stream open on the other closes too', async () => {
    const tablo = await createTablo(ada, 'Across');
    const onB = new Client(b.url);
    onB.setCookie('tablo.sid', ada.client.cookie('tablo.sid') ?? '');
    const stream = await streams.add(openStream(onB, tablo, { after: 0 }));
    assert.equal(stream.status, 200);
    const started = performance.now();
    await deleteSessionsOf(a, ada);
    await endedSignedOut(stream, started);
  });
});

describe('streams per person', () => {
  let app: TestApp;
  let ada: Person;
  let bob: Person;
  const streams = new Streams();
  before(async () => {
    app = await startTestApp({ env: { MAX_STREAMS_PER_USER: '2' } });
    [ada, bob] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob')]);
  });
  after(async () => {
    streams.closeAll();
    await app.close();
  });

  it('at most MAX_STREAMS_PER_USER open at once; more answer 429 with Retry-After; others are not limited', async () => {
    const tablo = await createTablo(ada, 'Capped');
    const first = await streams.add(openStream(ada.client, tablo, { after: 0 }));
    const second = await streams.add(openEvents(ada.client));
    assert.equal(first.status, 200);
    assert.equal(second.status, 200);
    const third = await streams.add(openStream(ada.client, tablo, { after: 0 }));
    assert.equal(third.status, 429);
    assert.ok(Number(third.response.headers.get('retry-after')) > 0, 'Retry-After');
    const fourth = await streams.add(openEvents(ada.client));
    assert.equal(fourth.status, 429);
    const bobs = await streams.add(openEvents(bob.client));
    assert.equal(bobs.status, 200);

    first.close();
    await ended(first);
    // Once the server has let the first go, a new one opens.
    let again: SseStream | undefined;
    for (let i = 0; i < 50 && again?.status !== 200; i++) {
      again?.close();
      await new Promise((resolve) => setTimeout(resolve, 100));
      again = await streams.add(openStream(ada.client, tablo, { after: 0 }));
    }
    assert.equal(again?.status, 200);
  });
});
