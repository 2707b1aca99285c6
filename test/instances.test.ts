/**
 * Several instances on one database (REALTIME_BUS=postgres): what is posted on one reaches the
 * streams of the other exactly once and in order, removal, sign-out and presence cross over, and
 * neither a killed LISTEN connection nor a restarting instance loses a message.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import { type Article, addMember, articlesIn, eventually, parseArticle, postMessage, postOk } from './support/discussion.ts';
import { metric } from './support/metrics.ts';
import { onInstance } from './support/members.ts';
import { openStream, type OpenOptions, type SseStream, type StreamEnd } from './support/sse.ts';

// Ada posts hundreds of messages across these tests: no posting limit (limits.test.ts tests it).
const env = { REALTIME_BUS: 'postgres', POST_RATE_LIMIT: '0' };
/** Tests here kill LISTEN backends on purpose: the bus logs the lost connection, and reconnects. */
const killed = '(terminating connection due to administrator command|Connection terminated unexpectedly)';
const expectErrors = [
  new RegExp(`^(?=.*"msg":"(bus connection error|database connection lost)")(?=.*${killed})`),
  // Known: B stopping with notifications in flight logs this (its pool is gone before they are sent).
  /^(?=.*"msg":"bus notification failed")(?=.*driver has already been destroyed)/,
];
const LONG = 30_000; // generous: a wait that runs out is a failure, never a measurement

let a: TestApp;
let b: TestApp;
let ada: Person;
let bob: Person;
let cat: Person;
let dan: Person;
/** A's LISTEN backend (kept up to date by the test that kills it): every other one on the database is B's (or C's). */
let aListener: number;

before(async () => {
  a = await startTestApp({ env, expectErrors });
  aListener = only(await listenPids());
  b = await startTestApp({ databaseUrl: a.databaseUrl, env, expectErrors });
  assert.equal((await listenPids()).length, 2, 'each instance keeps one LISTEN connection');
  [ada, bob, cat, dan] = await Promise.all([
    registerPerson(a.url, 'Ada'),
    registerPerson(a.url, 'Bob'),
    registerPerson(a.url, 'Cat'),
    registerPerson(a.url, 'Dan'),
  ]);
});
after(async () => {
  await b?.close();
  await a?.close();
});

/** Streams opened by a test, closed when it ends whatever happens. */
const open: SseStream[] = [];
async function stream(person: Person, tabloId: number, options: OpenOptions = {}): Promise<SseStream> {
  const s = await openStream(person.client, tabloId, options);
  open.push(s);
  assert.equal(s.status, 200, `stream for ${person.name} on ${person.client.baseUrl}`);
  return s;
}
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function only<T>(items: T[]): T {
  assert.equal(items.length, 1, `exactly one: ${JSON.stringify(items)}`);
  return items[0]!;
}


/** A tablo owned by Ada with these members. */
async function tabloWith(title: string, members: Person[]): Promise<number> {
  const tablo = await createTablo(ada, title);
  for (const member of members) await addMember(a.db, tablo, member.id);
  return tablo;
}

/** The LISTEN backends of this test database (the test server may hold other files' databases). */
async function listenPids(): Promise<number[]> {
  const { rows } = await sql<{ pid: number }>`
    SELECT pid FROM pg_stat_activity
    WHERE datname = current_database() AND query LIKE 'LISTEN%' AND pid <> pg_backend_pid()
    ORDER BY pid`.execute(a.db);
  return rows.map((r) => r.pid);
}

/** Terminates these LISTEN backends and waits until they are gone. */
async function killListeners(pids: number[]): Promise<void> {
  assert.ok(pids.length > 0, 'a LISTEN backend to kill');
  const { rows } = await sql<{ killed: boolean }>`SELECT pg_terminate_backend(pid) AS killed FROM unnest(${pids}::int[]) AS pid`.execute(a.db);
  assert.ok(rows.every((r) => r.killed), 'pg_terminate_backend succeeded');
  await eventually(async () => (await listenPids()).every((pid) => !pids.includes(pid)), LONG, 'the killed backends to exit');
}

/** Every stored message's fragment, as the app serves it (the "load older" fragment), by seq. */
async function storedFragments(tabloId: number): Promise<string[]> {
  const { last_seq: newest } = await a.db.selectFrom('tablos').select('last_seq').where('id', '=', tabloId).executeTakeFirstOrThrow();
  const bySeq = new Map<number, string>();
  for (let beforeSeq = newest + 1; beforeSeq > 1; ) {
    const page = await ada.client.get(`/tablos/${tabloId}/discussion/messages?before=${beforeSeq}`);
    assert.equal(page.status, 200);
    const articles = articlesIn(page.html);
    assert.ok(articles.length > 0, `messages before ${beforeSeq}`);
    for (const article of articles) bySeq.set(article.seq, article.html);
    beforeSeq = articles[0]!.seq;
  }
  const stored = await a.db.selectFrom('messages').select('seq').where('tablo_id', '=', tabloId).orderBy('seq').execute();
  assert.deepEqual(stored.map((m) => m.seq), range(1, newest), 'the stored seqs are 1..newest');
  assert.deepEqual([...bySeq.keys()].sort((x, y) => x - y), range(1, newest));
  return range(1, newest).map((seq) => bySeq.get(seq)!);
}

/**
 * The reader's message events (no `event:` field, an `id:`) are exactly the stored messages after
 * `after`: ids after+1 … newest, once each, in order, each one's data the stored fragment.
 */
function assertExactly(reader: SseStream, fragments: string[], who: string, after = 0): void {
  const messages = reader.events.filter((e) => e.type === 'message');
  assert.deepEqual(
    messages.map((e) => Number(e.id)),
    range(after + 1, fragments.length),
    `${who}: ids ${after + 1}..${fragments.length} once each, in order; ${reader.describe()}`,
  );
  for (const event of messages) {
    assert.ok(!event.fields.includes('event'), `${who}: a message event has no event: field`);
    assert.equal(event.data, fragments[Number(event.id) - 1], `${who}: seq ${event.id} is the stored message's fragment`);
  }
}

/** Posts `count` messages as `person`, `concurrency` at a time, insisting on 201; answers them. */
async function postAll(person: Person, tabloId: number, count: number, tag: string, concurrency = 2): Promise<Article[]> {
  const posted: Article[] = [];
  let next = 1;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next <= count) posted.push(await postOk(person, tabloId, `${tag} ${next++} — ${'é😀'.repeat(next % 4)}`));
    }),
  );
  return posted;
}

/** How the stream ended, once it has (a stream left open fails the wait). */
async function endOf(s: SseStream): Promise<StreamEnd> {
  await s.waitFor((x) => x.endedAs !== undefined, LONG, 'the stream to end');
  return s.endedAs!;
}

const presenceEvents = (s: SseStream) => s.events.filter((e) => e.type === 'presence');
const shows = (data: string | undefined, person: Person) => (data ?? '').includes(`data-user-id="${person.id}"`);
/** The `#presence` list of a discussion page. */
async function presenceOnPage(person: Person, tabloId: number): Promise<string> {
  const page = await person.client.get(`/tablos/${tabloId}/discussion`);
  assert.equal(page.status, 200);
  const list = /<ul id="presence"[^>]*>([\s\S]*?)<\/ul>/.exec(page.html);
  assert.ok(list, '#presence');
  return list[1]!;
}

describe('two instances on one database', { timeout: 300_000 }, () => {
  it('a stream on either instance gets every message posted on both, exactly once and in order', async () => {
    const tablo = await tabloWith('Across instances', [bob, cat, dan]);
    const [adaB, catB, danB, bobB] = await Promise.all([onInstance(b, ada), onInstance(b, cat), onInstance(b, dan), onInstance(b, bob)]);
    const readers: [string, SseStream][] = [
      ['Ada on A', await stream(ada, tablo)],
      ['Cat on A', await stream(cat, tablo, { after: 0 })],
      ['Ada on B', await stream(adaB, tablo)],
      ['Bob on B', await stream(bobB, tablo, { after: 0 })],
      ['Dan on B', await stream(danB, tablo)],
    ];

    // Two posters on each instance, each with two requests in flight: 100 messages.
    const posting = Promise.all([
      postAll(ada, tablo, 25, 'Ada via A'),
      postAll(bob, tablo, 25, 'Bob via A'),
      postAll(catB, tablo, 25, 'Cat via B'),
      postAll(danB, tablo, 25, 'Dan via B'),
    ]);
    // Someone opening the discussion on B mid-run: backfill, then live, nothing twice.
    await readers[0]![1].waitForId(30, LONG);
    readers.push(['Cat on B, late', await stream(catB, tablo, { after: 0 })]);
    const posted = (await posting).flat();
    assert.equal(posted.length, 100);
    assert.deepEqual(posted.map((p) => p.seq).sort((x, y) => x - y), range(1, 100), 'the stored seqs');

    for (const [, reader] of readers) await reader.waitForId(100, LONG);
    // One more, so that anything sent twice would show before it.
    const last = await postOk(ada, tablo, 'the last word');
    for (const [, reader] of readers) await reader.waitForId(last.seq, LONG);

    const fragments = await storedFragments(tablo);
    assert.equal(fragments.length, 101);
    for (const article of [...posted, last]) assert.equal(fragments[article.seq - 1], article.html, 'the POST answer is the stored fragment');
    for (const [who, reader] of readers) {
      assertExactly(reader, fragments, who);
      assert.equal(reader.endedAs, undefined, `${who}: the stream is still open`);
    }
  });

  it('removal on A closes the member’s stream on B at once, and it receives nothing more', async () => {
    const tablo = await tabloWith('Removal across', [bob]);
    const other = await tabloWith('Bob stays here', [bob]);
    const [bobB, adaB] = await Promise.all([onInstance(b, bob), onInstance(b, ada)]);
    const bobsStream = await stream(bobB, tablo);
    const bobsOtherStream = await stream(bobB, other);
    const adasStream = await stream(adaB, tablo);
    await postAll(ada, tablo, 3, 'before');
    await bobsStream.waitForId(3, LONG);

    const removed = await ada.client.post(`/tablos/${tablo}/members/${bob.id}/remove`);
    assert.equal(removed.status, 303);
    assert.equal(await endOf(bobsStream), 'ended', 'the server ended Bob’s stream on B');
    const afterRemoval = bobsStream.events.length;
    assert.equal(bobsStream.events.at(-1)?.type, 'access-ended', `the last event says why; ${bobsStream.describe()}`);

    const later = await postAll(ada, tablo, 2, 'after');
    await adasStream.waitForId(5, LONG); // the owner's stream on B stays and gets them
    await postOk(ada, other, 'still here, Bob');
    await bobsOtherStream.waitForId(1, LONG); // Bob's stream of another tablo on B is untouched
    assert.equal(bobsStream.events.length, afterRemoval, 'nothing after access-ended');
    assert.deepEqual(bobsStream.messageIds, [1, 2, 3]);
    assert.ok(later.every((m) => m.seq > 3));
    assert.equal(bobsOtherStream.endedAs, undefined);
    assert.equal(adasStream.endedAs, undefined);

    // And B does not let him back in.
    const again = await openStream(bobB.client, tablo);
    open.push(again);
    assert.equal(again.status, 404);
  });

  it('sign-out on A closes that session’s stream on B, and only that session’s', async () => {
    const tablo = await tabloWith('Sign-out across', [cat]);
    // A second session of Cat's, signed in on A.
    const login = new Client(a.url);
    await login.get('/login');
    const signedIn = await login.post('/login', { email: cat.email, password: cat.password });
    assert.equal(signedIn.status, 303);
    const leaving = await onInstance(b, { ...cat, client: login });
    const staying = await onInstance(b, cat);
    const leavingStream = await stream(leaving, tablo);
    const stayingStream = await stream(staying, tablo);

    await login.get('/tablos');
    const out = await login.post('/logout');
    assert.equal(out.status, 303);
    assert.equal(await endOf(leavingStream), 'ended', 'the server ended the signed-out session’s stream on B');
    assert.equal(leavingStream.events.at(-1)?.type, 'signed-out', leavingStream.describe());
    const count = leavingStream.events.length;

    await postOk(ada, tablo, 'after sign-out');
    await stayingStream.waitForId(1, LONG);
    assert.equal(leavingStream.events.length, count, 'nothing after signed-out');
    assert.equal(stayingStream.endedAs, undefined, 'Cat’s other session keeps its stream');
    const again = await openStream(leaving.client, tablo);
    open.push(again);
    assert.equal(again.status, 401, 'the session is gone on B too');
  });

  it('killing B’s LISTEN connection while A posts loses nothing on B, even the last messages', async () => {
    const tablo = await tabloWith('Killed listener', [bob]);
    const [adaB, bobB] = await Promise.all([onInstance(b, ada), onInstance(b, bob)]);
    const readers: [string, SseStream][] = [
      ['Ada on B', await stream(adaB, tablo)],
      ['Bob on B', await stream(bobB, tablo)],
      ['Bob on A', await stream(bob, tablo)],
    ];
    const bListeners = async () => (await listenPids()).filter((pid) => pid !== aListener);
    const reconnects = () => b.live.metrics.busReconnects.get().then((m) => m.values[0]?.value ?? 0);
    const reconnectsBefore = await reconnects();

    // Kill B's listener while two posters on A are at it.
    const posting = Promise.all([postAll(ada, tablo, 30, 'Ada', 2), postAll(bob, tablo, 30, 'Bob', 2)]);
    await readers[0]![1].waitForId(10, LONG);
    await killListeners(await bListeners());
    await posting;

    // Then the last messages go out while B is not listening: only catching up can bring them.
    // (Should B have reconnected already, it is killed again and the batch repeated.)
    let unheard = false;
    for (let attempt = 0; attempt < 10 && !unheard; attempt++) {
      const listeners = await bListeners();
      if (listeners.length) await killListeners(listeners);
      await postAll(ada, tablo, 5, `unheard ${attempt}`, 1);
      unheard = (await bListeners()).length === 0;
    }
    assert.ok(unheard, 'the last messages were posted while B had no LISTEN connection');
    const { last_seq: newest } = await a.db.selectFrom('tablos').select('last_seq').where('id', '=', tablo).executeTakeFirstOrThrow();

    for (const [, reader] of readers) await reader.waitForId(newest, LONG);
    const fragments = await storedFragments(tablo);
    assert.equal(fragments.length, newest);
    for (const [who, reader] of readers) assertExactly(reader, fragments, who);
    await eventually(async () => (await bListeners()).length === 1, LONG, 'B to listen again');
    assert.ok((await reconnects()) > reconnectsBefore, 'B reconnected');

    // Live again: a message after the reconnect, and still nothing twice.
    const next = await postOk(ada, tablo, 'after the reconnect');
    for (const [, reader] of readers) await reader.waitForId(next.seq, LONG);
    const all = await storedFragments(tablo);
    for (const [who, reader] of readers) assertExactly(reader, all, who);
  });

  it('a removal and a sign-out on A while B’s LISTEN connection is down still close their streams on B', async () => {
    const bListeners = async () => (await listenPids()).filter((pid) => pid !== aListener);
    // Should B reconnect before both are done, the notices may have reached it: try again afresh.
    for (let attempt = 1; ; attempt++) {
      const tablo = await tabloWith(`Revoked while deaf ${attempt}`, [bob, cat]);
      const login = new Client(a.url);
      await login.get('/login');
      assert.equal((await login.post('/login', { email: cat.email, password: cat.password })).status, 303);
      await login.get('/tablos');
      const [bobB, catLeavingB, adaB] = await Promise.all([onInstance(b, bob), onInstance(b, { ...cat, client: login }), onInstance(b, ada)]);
      const bobsStream = await stream(bobB, tablo);
      const catsStream = await stream(catLeavingB, tablo);
      const adasStream = await stream(adaB, tablo);

      const listeners = await bListeners();
      if (listeners.length) await killListeners(listeners);
      assert.equal((await ada.client.post(`/tablos/${tablo}/members/${bob.id}/remove`)).status, 303);
      assert.equal((await login.post('/logout')).status, 303);
      if ((await bListeners()).length > 0) {
        assert.ok(attempt < 5, 'B reconnected too soon every time');
        continue;
      }

      assert.equal(await endOf(bobsStream), 'ended', 'Bob’s stream on B ended once B caught up');
      assert.equal(bobsStream.events.at(-1)?.type, 'access-ended', bobsStream.describe());
      assert.equal(await endOf(catsStream), 'ended', 'the signed-out session’s stream on B ended');
      assert.equal(catsStream.events.at(-1)?.type, 'signed-out', catsStream.describe());
      const message = await postOk(ada, tablo, 'for members only');
      await adasStream.waitForId(message.seq, LONG);
      assert.deepEqual(bobsStream.messageIds, [], 'Bob got nothing');
      assert.deepEqual(catsStream.messageIds, []);
      return;
    }
  });

  it('an instance restarting under load loses nothing for the readers on the other', async () => {
    const tablo = await tabloWith('Restart under load', [bob, cat, dan]);
    const readers: [string, SseStream, number][] = [
      ['Ada on A', await stream(ada, tablo), 0],
      ['Bob on A', await stream(bob, tablo), 0],
    ];
    const originalB = b;
    let bUp: TestApp | undefined = b; // undefined between B's stop and its restart
    let posting = true;
    const accepted: Article[] = [];
    let acceptedOnNewB = 0;
    let bStopping = false;
    /** Posts B turned away while it stopped: allowed, and stored or not, the table says. */
    let refusedByStoppingB = 0;
    /** Any other failure: none is allowed, on A at any time or on B while it runs. */
    const unexpected: string[] = [];

    /** Posts until told to stop. Only B, once it has begun stopping, may refuse one. */
    async function poster(person: Person, where: () => TestApp | undefined, tag: string): Promise<void> {
      let via: { instance: TestApp; person: Person } | undefined;
      for (let i = 1; posting; i++) {
        const instance = where();
        if (!instance) {
          await sleep(25); // B is down
          continue;
        }
        let response: Awaited<ReturnType<typeof postMessage>>;
        try {
          if (via?.instance !== instance) via = { instance, person: await onInstance(instance, person) };
          response = await postMessage(via.person, tablo, `${tag} ${i}`);
        } catch (error) {
          if (instance === originalB && bStopping) refusedByStoppingB++;
          else unexpected.push(`${tag} ${i}: ${String(error)}`);
          await sleep(25);
          continue;
        }
        if (response.status === 201) {
          accepted.push(parseArticle(response.html)); // an assertion: a bad fragment fails the test
          if (instance !== a && instance !== originalB) acceptedOnNewB++;
        } else if (instance === originalB && bStopping) {
          refusedByStoppingB++;
        } else {
          unexpected.push(`${tag} ${i}: status ${response.status}`);
        }
      }
    }
    const posters = Promise.all([
      poster(ada, () => a, 'Ada via A'),
      poster(bob, () => a, 'Bob via A'),
      poster(cat, () => bUp, 'Cat via B'),
      poster(dan, () => bUp, 'Dan via B'),
    ]);
    try {
      await eventually(async () => accepted.length >= 40, LONG, '40 posts before the restart');
      // B's posters keep using their kept-alive connections while it stops.
      bStopping = true;
      await b.stop();
      bUp = undefined;
      const whileDown = accepted.length;
      await eventually(async () => accepted.length >= whileDown + 20, LONG, 'A to take posts while B is down');
      b = await startTestApp({ databaseUrl: a.databaseUrl, env, expectErrors });
      bUp = b;
      // A reader on the restarted B too, from where the tablo is now (the start may be over 500 back: resync).
      const { last_seq: now } = await a.db.selectFrom('tablos').select('last_seq').where('id', '=', tablo).executeTakeFirstOrThrow();
      readers.push(['Cat on the restarted B', await stream(await onInstance(b, cat), tablo, { after: now }), now]);
      await eventually(async () => acceptedOnNewB >= 20, LONG, 'posts through the restarted B');
    } finally {
      posting = false;
      await posters;
    }

    const { last_seq: newest } = await a.db.selectFrom('tablos').select('last_seq').where('id', '=', tablo).executeTakeFirstOrThrow();
    assert.deepEqual(unexpected, [], 'no post failed except on B while it stopped');
    assert.ok(newest >= accepted.length, `every accepted post is stored (${accepted.length} accepted, ${refusedByStoppingB} refused by B stopping)`);
    for (const [, reader] of readers) await reader.waitForId(newest, LONG);
    const fragments = await storedFragments(tablo);
    assert.equal(fragments.length, newest);
    for (const article of accepted) assert.equal(fragments[article.seq - 1], article.html, `accepted seq ${article.seq} is stored as answered`);
    for (const [who, reader, after] of readers) {
      assertExactly(reader, fragments, who, after);
      assert.equal(reader.endedAs, undefined, `${who}: still open`);
    }
    assert.equal((await listenPids()).length, 2, 'the restarted B listens, the stopped one no longer does');
  });

  it('an invitation made on A reaches the invited person’s /events on B; accepting on B tells the members on A', async () => {
    const eve = await registerPerson(a.url, 'Eve');
    const tablo = await tabloWith('Invitation across', [bob]);
    const eveB = await onInstance(b, eve);
    const evesEvents = await stream(eveB, 0, { url: '/events' });
    const bobsEvents = await stream(bob, 0, { url: '/events' });
    const named = (s: SseStream, type: string) => s.events.filter((e) => e.type === type && e.data.includes(`"tablo":${tablo}`));

    await ada.client.get(`/tablos/${tablo}`);
    assert.equal((await ada.client.post(`/tablos/${tablo}/members`, { email: eve.email })).status, 303);
    await evesEvents.waitFor((s) => named(s, 'invitations').length === 1, LONG, 'the invitation event on B');
    const invitation = Number(/<li id="invitation-(\d+)"/.exec((await eveB.client.get('/tablos')).html)?.[1]);
    assert.ok(invitation > 0, 'the invitation on Eve’s /tablos on B');

    assert.equal((await eveB.client.post(`/invitations/${invitation}/accept`)).status, 303);
    await bobsEvents.waitFor((s) => named(s, 'members').length === 1, LONG, 'a members event for Bob on A');
    assert.deepEqual(named(bobsEvents, 'invitations'), [], 'members are not told of the invitation itself');
  });

  it('leaving, renaming and deleting on A reach B: members and tablo events there, and access-ended for whoever lost the tablo', async () => {
    const tablo = await tabloWith('Managed across', [bob, cat]);
    const [adaB, bobB, catB] = await Promise.all([onInstance(b, ada), onInstance(b, bob), onInstance(b, cat)]);
    const named = (s: SseStream, type: string, change?: string) =>
      s.events.filter((e) => e.type === type && e.data.includes(`"tablo":${tablo}`) && (!change || e.data.includes(`"change":"${change}"`)));
    const adasEvents = await stream(adaB, 0, { url: '/events' });
    const catsEvents = await stream(catB, 0, { url: '/events' });
    const adasDiscussion = await stream(adaB, tablo);
    const catsDiscussion = await stream(catB, tablo);
    const bobsDiscussion = await stream(bobB, tablo);

    // Bob leaves on A: his stream on B ends, the others' pages on B re-read the members.
    await bob.client.get(`/tablos/${tablo}`);
    assert.equal((await bob.client.post(`/tablos/${tablo}/leave`)).status, 303);
    assert.equal(await endOf(bobsDiscussion), 'ended', 'Bob’s stream on B ended');
    assert.equal(bobsDiscussion.events.at(-1)?.type, 'access-ended', bobsDiscussion.describe());
    await adasEvents.waitFor((s) => named(s, 'members').length === 1, LONG, 'the owner’s /events on B hears the members changed');
    await catsEvents.waitFor((s) => named(s, 'members').length === 1, LONG, 'a member’s /events on B too');
    assert.deepEqual(named(bobsDiscussion, 'members'), [], 'nothing about the tablo after he left');

    // Ada renames it on A: /events and the discussions on B hear of it.
    await ada.client.get(`/tablos/${tablo}`);
    assert.equal((await ada.client.post(`/tablos/${tablo}/rename`, { title: 'Renamed across' })).status, 303);
    await catsEvents.waitFor((s) => named(s, 'tablo', 'renamed').length === 1, LONG, 'renamed on Cat’s /events on B');
    await catsDiscussion.waitFor((s) => named(s, 'tablo', 'renamed').length === 1, LONG, 'renamed on Cat’s discussion on B');
    await adasDiscussion.waitFor((s) => named(s, 'tablo', 'renamed').length === 1, LONG, 'renamed on Ada’s discussion on B');
    assert.match((await catB.client.get(`/tablos/${tablo}`)).html, /<h1>Renamed across<\/h1>/);

    // Ada deletes it on A: every discussion of it on B ends, and /events there hears why.
    assert.equal((await ada.client.post(`/tablos/${tablo}/delete`, { confirm: 'yes' })).status, 303);
    for (const s of [catsDiscussion, adasDiscussion]) {
      assert.equal(await endOf(s), 'ended', s.describe());
      assert.equal(s.events.at(-1)?.type, 'access-ended', s.describe());
    }
    await catsEvents.waitFor((s) => named(s, 'tablo', 'deleted').length === 1, LONG, 'deleted on Cat’s /events on B');
    await adasEvents.waitFor((s) => named(s, 'tablo', 'deleted').length === 1, LONG, 'deleted on Ada’s /events on B');
    assert.equal(catsEvents.endedAs, undefined, 'a person’s own stream outlives the tablo');
    const again = await openStream(catB.client, tablo);
    open.push(again);
    assert.equal(again.status, 404, 'B lets nobody back in');
  });

  it('presence crosses instances: a discussion open on B shows on A, and closing it removes it', async () => {
    const tablo = await tabloWith('Presence across', [bob]);
    const adasStream = await stream(ada, tablo);
    await adasStream.waitFor((s) => shows(presenceEvents(s).at(-1)?.data, ada), LONG, 'Ada present on A');
    assert.ok(!shows(presenceEvents(adasStream).at(-1)?.data, bob));

    const bobB = await onInstance(b, bob);
    const bobsStream = await stream(bobB, tablo);
    await adasStream.waitFor((s) => shows(presenceEvents(s).at(-1)?.data, bob), LONG, 'Bob (on B) present on A’s stream');
    assert.ok(shows(presenceEvents(adasStream).at(-1)?.data, ada), 'Ada is still shown');
    assert.ok(shows(await presenceOnPage(ada, tablo), bob), 'A’s discussion page shows Bob too');
    assert.ok(shows(await presenceOnPage(await onInstance(b, ada), tablo), bob), 'so does B’s');

    bobsStream.close();
    await adasStream.waitFor((s) => !shows(presenceEvents(s).at(-1)?.data, bob), LONG, 'Bob gone from A’s stream');
    assert.ok(shows(presenceEvents(adasStream).at(-1)?.data, ada));
    assert.ok(!shows(await presenceOnPage(ada, tablo), bob), 'and from A’s page');
  });

  it('presence that changed on B while A’s LISTEN connection was down shows once A is back', async () => {
    const tablo = await tabloWith('Presence while deaf', [bob]);
    const adasStream = await stream(ada, tablo);
    await adasStream.waitFor((s) => shows(presenceEvents(s).at(-1)?.data, ada), LONG, 'Ada present on A');
    const bobB = await onInstance(b, bob);
    const heardOnB = () => b.live.metrics.busNotifications.get().then((m) => m.values.find((v) => v.labels.kind === 'presence')?.value ?? 0);
    for (let attempt = 1; ; attempt++) {
      const bListener = only((await listenPids()).filter((pid) => pid !== aListener));
      await killListeners([aListener]);
      const heard = await heardOnB();
      const bobsStream = await stream(bobB, tablo);
      // B hears its own presence notice: it has been sent. Was A deaf to it?
      await eventually(async () => (await heardOnB()) > heard, LONG, 'B’s presence notice');
      const deaf = (await listenPids()).every((pid) => pid === bListener);
      await eventually(async () => (await listenPids()).length === 2, LONG, 'A to listen again');
      aListener = only((await listenPids()).filter((pid) => pid !== bListener));
      if (!deaf) {
        assert.ok(attempt < 5, 'A reconnected too soon every time');
        bobsStream.close();
        await eventually(async () => (await metric(b, 'tablo_open_streams{kind="discussion"}')) === 0, LONG, 'Bob’s stream to close');
        continue;
      }
      await adasStream.waitFor((s) => shows(presenceEvents(s).at(-1)?.data, bob), LONG, 'Bob (on B) shown on A’s stream after A reconnected');
      return;
    }
  });

  it('presence settles to nobody after many people open and close their discussions on B at once', async () => {
    const crowd = await Promise.all(Array.from({ length: 6 }, (_, i) => registerPerson(a.url, `Crowd${i}`)));
    const tablo = await tabloWith('Presence churn', [bob, ...crowd]);
    const onB = await Promise.all([bob, ...crowd].map((person) => onInstance(b, person)));
    const adasStream = await stream(ada, tablo);
    for (let round = 0; round < 5; round++) {
      const churn = await Promise.all(onB.flatMap((person) => [openStream(person.client, tablo), openStream(person.client, tablo)]));
      for (const s of churn) s.close();
      await Promise.all(churn.map((s) => s.ended));
    }
    await eventually(async () => (await metric(b, 'tablo_open_streams{kind="discussion"}')) === 0, LONG, 'B to see every stream closed');
    // Every presence write about them has begun; whatever order they land in, nobody is left.
    const anyoneShown = (html: string | undefined) => [bob, ...crowd].filter((person) => shows(html, person)).map((p) => p.name);
    await eventually(async () => anyoneShown(await presenceOnPage(ada, tablo)).length === 0, 10_000, 'the crowd to be gone from A’s page');
    await adasStream.waitFor((s) => anyoneShown(presenceEvents(s).at(-1)?.data).length === 0, LONG, 'the crowd gone from A’s stream');
    const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM presence WHERE tablo_id = ${tablo} AND user_id <> ${ada.id}`.execute(a.db);
    assert.equal(Number(rows[0]!.n), 0, 'no presence row left for anyone who left');
  });

  it('/metrics shows bus notifications, reconnects and open discussion streams', async () => {
    const tablo = await tabloWith('Metrics', [bob, cat]);
    const known = await listenPids();
    const c = await startTestApp({ databaseUrl: a.databaseUrl, env, expectErrors });
    try {
      const cListener = only((await listenPids()).filter((pid) => !known.includes(pid)));
      const messages = 'tablo_bus_notifications_total{kind="event"}';
      const discussions = 'tablo_open_streams{kind="discussion"}';
      assert.equal(await metric(c, 'tablo_bus_reconnects_total'), 0);
      assert.equal(await metric(c, discussions), 0);

      const [adaC, bobC, catC] = await Promise.all([onInstance(c, ada), onInstance(c, bob), onInstance(c, cat)]);
      const streams = [await stream(adaC, tablo), await stream(bobC, tablo), await stream(catC, tablo)];
      const personal = await catC.client.request('/events', { headers: { Accept: 'text/event-stream' } });
      assert.equal(personal.status, 200);
      assert.equal(await metric(c, discussions), 3, 'three discussion streams open on C');
      assert.equal(await metric(c, 'tablo_open_streams{kind="personal"}'), 1);

      const before = await metric(c, messages);
      await postAll(ada, tablo, 4, 'counted', 1);
      await eventually(async () => (await metric(c, messages)) >= before + 4, LONG, 'C to count four message notifications');
      for (const s of streams) await s.waitForId(4, LONG);
      assert.equal(await metric(c, messages), before + 4, 'one notification per message');

      streams[2]!.close();
      await personal.body?.cancel();
      await eventually(async () => (await metric(c, discussions)) === 2, LONG, 'the closed stream to be counted out');
      assert.equal(await metric(c, 'tablo_open_streams{kind="personal"}'), 0);

      await killListeners([cListener]);
      await eventually(async () => (await metric(c, 'tablo_bus_reconnects_total')) >= 1, LONG, 'C to count its reconnect');
      assert.equal(await metric(c, 'tablo_bus_reconnects_total'), 1);
      await postOk(ada, tablo, 'after the reconnect');
      await eventually(async () => (await metric(c, messages)) === before + 5, LONG, 'C to hear the next message');
      await streams[0]!.waitForId(5, LONG);
      assert.equal(await metric(c, discussions), 2);
    } finally {
      for (const s of open.splice(0)) s.close();
      await c.stop();
    }
  });
});
