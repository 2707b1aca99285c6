import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { holdRequest, statuses } from './support/in-flight.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import { type Article, addMember, eventually, parseArticle, postMany, postOk } from './support/discussion.ts';
import { openStream, type SseEvent, type SseStream } from './support/sse.ts';

// These tests post hundreds of messages as one person: no posting limit (limits.test.ts tests it).
const UNLIMITED = { POST_RATE_LIMIT: '0' };
let app: TestApp;
let ada: Person;
let bob: Person;
before(async () => {
  app = await startTestApp({ env: UNLIMITED });
  [ada, bob] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob')]);
});
after(() => app.close());

/** Streams opened by a test, closed when it ends whatever happens. */
const open: SseStream[] = [];
async function stream(...args: Parameters<typeof openStream>): Promise<SseStream> {
  const s = await openStream(...args);
  open.push(s);
  return s;
}
const closeAll = () => {
  for (const s of open.splice(0)) s.close();
};

/** The events that carry the discussion's log: messages and resync (not presence and the like). */
const isLog = (e: SseEvent) => e.type === 'message' || e.type === 'resync';
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/** The stream URL a discussion page connects to (its `hx-sse:connect`). */
const streamUrlOf = (html: string) => {
  const raw = /hx-sse:connect="([^"]+)"/.exec(html)?.[1];
  assert.ok(raw, 'hx-sse:connect');
  return raw.replace(/&amp;/g, '&');
};

describe('the stream', () => {
  after(closeAll);

  it('answers 200 text/event-stream, uncached and uncompressed, starting with a retry line', async () => {
    const tablo = await createTablo(ada, 'Stream basics');
    const s = await stream(ada.client, tablo, { after: 0 });
    assert.equal(s.status, 200);
    assert.match(s.response.headers.get('content-type') ?? '', /^text\/event-stream\b/);
    assert.match(s.response.headers.get('cache-control') ?? '', /\bno-cache\b/);
    assert.equal(s.response.headers.get('content-encoding'), null);
    await s.waitFor((x) => x.retries.length > 0, 5_000, 'a retry line');
    assert.match(s.opening, /^(?::[^\n]*\n|\n)*retry: *\d+\n/, 'the retry line comes before anything but comments');
    assert.equal(s.messages.length, 0, 'nothing to send in an empty tablo');
    assert.equal(s.endedAs, undefined, 'the stream stays open');
  });

  it('sends each message as a default event with its seq as id and the fragment as data, the POST answer’s bytes', async () => {
    const tablo = await createTablo(ada, 'Stream events');
    const s = await stream(ada.client, tablo, { after: 0 });
    const bodies = ['One line', 'first line\nsecond line\n\n  indented fourth\nlast', '<b>not bold</b> & "quoted" https://example.com/?a=1&b=2', '😀'.repeat(5000)];
    const posted: Article[] = [];
    for (const body of bodies) posted.push(await postOk(ada, tablo, body));
    await s.waitForId(posted.length);

    assert.deepEqual(s.messageIds, range(1, posted.length));
    for (const [i, event] of s.messages.entries()) {
      const article = posted[i]!;
      assert.equal(event.type, 'message');
      assert.ok(!event.fields.includes('event'), 'no event: line');
      assert.equal(event.id, String(article.seq), 'its own id line, the seq');
      assert.equal(event.data, article.html, 'the same bytes as the POST answer');
      assert.equal(event.fields.filter((f) => f === 'data').length, article.html.split('\n').length, 'one data line per line');
      assert.equal(parseArticle(event.data).seq, article.seq);
    }
    assert.ok(s.messages[1]!.data.includes('\n'), 'the multi-line body kept its line breaks');

    // And the page shows the very same bytes: rendered once.
    const page = await ada.client.get(`/tablos/${tablo}/discussion`);
    for (const article of posted) {
      const shown = new RegExp(`<article id="message-${article.id}"[\\s\\S]*?</article>`).exec(page.html)?.[0];
      assert.equal(shown, article.html);
    }
  });

  it('sends a keep-alive comment while idle', async () => {
    const quick = await startTestApp({ env: { STREAM_KEEPALIVE_MS: '300' } });
    try {
      const cat = await registerPerson(quick.url, 'Cat');
      const tablo = await createTablo(cat, 'Quiet room');
      const s = await openStream(cat.client, tablo);
      try {
        await s.waitFor((x) => x.comments.filter((c) => c === 'keep-alive').length >= 2, 10_000, 'two keep-alive comments');
        assert.equal(s.messages.length, 0);
        assert.equal(s.endedAs, undefined);
      } finally {
        s.close();
      }
    } finally {
      await quick.close();
    }
  });

  it('lets go of a reader that disconnects', async () => {
    const tablo = await createTablo(ada, 'Coming and going');
    await eventually(async () => app.live.openStreams === open.filter((s) => !s.endedAs).length, 10_000, 'a settled count');
    const before = app.live.openStreams;
    const s = await openStream(ada.client, tablo);
    await s.waitFor((x) => x.retries.length > 0);
    await eventually(async () => app.live.openStreams === before + 1, 5_000, 'the stream to be counted');
    s.close();
    await eventually(async () => app.live.openStreams === before, 10_000, 'the stream to be let go');
  });
});

describe('resuming', () => {
  after(closeAll);
  let tablo: number;
  let posted: Map<number, string>;
  before(async () => {
    tablo = await createTablo(ada, 'Resuming');
    await addMember(app.db, tablo, bob.id);
    posted = new Map((await postMany(ada, tablo, 6, (i) => `before ${i}`)).map((a) => [a.seq, a.html]));
  });

  /** Opens with these options, expects exactly `replayed` first, then a live message right after. */
  async function expectResume(options: Parameters<typeof openStream>[2], replayed: number[]) {
    const s = await stream(bob.client, tablo, options);
    assert.equal(s.status, 200);
    const newest = Math.max(...posted.keys());
    await s.waitFor((x) => x.messageIds.length >= replayed.length, 10_000, `ids ${replayed.join(',')}`);
    const live = await postOk(ada, tablo, `live after ${JSON.stringify(options)}`);
    posted.set(live.seq, live.html);
    assert.equal(live.seq, newest + 1);
    await s.waitForId(live.seq);
    assert.deepEqual(s.messageIds, [...replayed, live.seq]);
    for (const e of s.messages) assert.equal(e.data, posted.get(Number(e.id)));
    s.close();
    return live.seq;
  }

  it('sends every message after `after`, oldest-first, then live ones', async () => {
    await expectResume({ after: 3 }, [4, 5, 6]);
  });

  it('sends everything from the start with after=0 or no cursor', async () => {
    await expectResume({ after: 0 }, range(1, 7));
    await expectResume({}, range(1, 8));
  });

  it('resumes after Last-Event-ID', async () => {
    await expectResume({ lastEventId: 5 }, range(6, 9));
  });

  it('resumes after the larger of `after` and Last-Event-ID', async () => {
    await expectResume({ after: 2, lastEventId: 8 }, range(9, 10));
    await expectResume({ after: 9, lastEventId: 3 }, range(10, 11));
  });

  it('sends nothing old when the cursor is the newest message', async () => {
    await expectResume({ after: 12 }, []);
  });

  it('gives a message to every one of many readers that open their stream as it is posted', async () => {
    // Each stream subscribes, then reads the table: a message that commits at any moment of that
    // reaches it once. Twenty-five readers opening at once spread the message's moment over all
    // the stages of opening.
    for (let round = 0; round < 5; round++) {
      const newest = Math.max(...posted.keys());
      const [streams, article] = await Promise.all([
        Promise.all(Array.from({ length: 25 }, () => stream(bob.client, tablo, { after: newest }))),
        new Promise((resolve) => setTimeout(resolve, round * 4)).then(() => postOk(ada, tablo, `as they open ${round}`)),
      ]);
      posted.set(article.seq, article.html);
      for (const [i, s] of streams.entries()) {
        await s.waitForId(article.seq, 10_000);
        assert.deepEqual(s.messageIds, [article.seq], `round ${round}, reader ${i}`);
        s.close();
      }
    }
  });

  it('does not lose a message posted between the page render and the stream opening', async () => {
    const page = await bob.client.get(`/tablos/${tablo}/discussion`);
    const url = streamUrlOf(page.html);
    const newest = Math.max(...posted.keys());
    assert.equal(new URL(url, app.url).searchParams.get('after'), String(newest));
    const between = await postOk(ada, tablo, 'posted in between');
    posted.set(between.seq, between.html);
    const s = await stream(bob.client, tablo, { url });
    await s.waitForId(between.seq);
    assert.deepEqual(s.messageIds, [newest + 1]);
    assert.equal(s.messages[0]!.data, between.html);
  });
});

describe('a long absence', () => {
  after(closeAll);
  let tablo: number;
  before(async () => {
    tablo = await createTablo(ada, 'Very busy');
    await postMany(ada, tablo, 520, (i) => `backlog ${i}`, 8);
  });

  it('replays 500 messages as messages', async () => {
    const s = await stream(ada.client, tablo, { after: 20 });
    await s.waitForId(520, 20_000);
    assert.deepEqual(s.messageIds, range(21, 520));
    assert.ok(!s.events.some((e) => e.type === 'resync'));
    s.close();
  });

  it('sends resync with the newest seq as id instead of replaying 501 or more, then goes on live', async () => {
    for (const options of [{ after: 19 }, { after: 0 }, { lastEventId: 3 }]) {
      const s = await stream(ada.client, tablo, options);
      await s.waitFor((x) => x.events.some(isLog), 10_000, 'the first event');
      const first = s.events.find(isLog);
      assert.equal(first!.type, 'resync', JSON.stringify(options));
      assert.equal(first!.id, '520');
      assert.equal(first!.data, '');
      assert.equal(s.lastEventId, '520');
      s.close();
    }

    const s = await stream(ada.client, tablo, { after: 0 });
    await s.waitFor((x) => x.events.some((e) => e.type === 'resync'), 10_000, 'resync');
    const cursorAfterResync = s.lastEventId;
    assert.equal(cursorAfterResync, '520');
    const live = [await postOk(ada, tablo, 'after the resync'), await postOk(ada, tablo, 'and another')];
    await s.waitForId(live[1]!.seq);
    assert.deepEqual(
      s.events.filter(isLog).map((e) => [e.type, e.id]),
      [
        ['resync', '520'],
        ['message', '521'],
        ['message', '522'],
      ],
    );
    assert.equal(s.messages[1]!.data, live[1]!.html);

    // Reconnecting after the resync resumes from its id.
    const again = await stream(ada.client, tablo, { after: 0, lastEventId: cursorAfterResync });
    const third = await postOk(ada, tablo, 'third');
    await again.waitForId(third.seq);
    assert.deepEqual(again.messageIds, [521, 522, 523]);
  });
});

describe('a long backfill', () => {
  after(closeAll);
  let tablo: number;
  before(async () => {
    tablo = await createTablo(ada, 'Heavy history');
    await postMany(ada, tablo, 250, (i) => `${i} ${'😀'.repeat(4990)}`, 6);
  });

  it('does not lose a message posted while the backfill is being read and sent', async () => {
    // Reading and sending 250 large messages (5 MB) takes a while: a message posted meanwhile reaches the
    // stream live (held until the backfill is done) or from the table — never neither, never both —
    // even when nothing is posted after it to reveal a gap.
    for (let trial = 0; trial < 12; trial++) {
      const newest = (await app.db.selectFrom('tablos').select('last_seq').where('id', '=', tablo).executeTakeFirstOrThrow()).last_seq;
      const cursor = newest - 250;
      const s = await stream(ada.client, tablo, { after: cursor });
      await new Promise((resolve) => setTimeout(resolve, trial * 8));
      const live = await postOk(ada, tablo, `during backfill ${trial}`);
      await s.waitForId(live.seq, 10_000);
      assert.deepEqual(s.messageIds, range(cursor + 1, live.seq), `trial ${trial}`);
      s.close();
    }
  });
});

describe('ending streams', () => {
  after(closeAll);

  it('closes the stream of a session that signs out, and only that one', async () => {
    const cat = await registerPerson(app.url, 'Cat');
    const tablo = await createTablo(cat, 'Signing out');
    const otherSession = new Client(app.url);
    await otherSession.get('/login');
    assert.equal((await otherSession.post('/login', { email: cat.email, password: cat.password })).status, 303);

    const leaving = await stream(cat.client, tablo);
    const staying = await stream(otherSession, tablo);
    await leaving.waitFor((x) => x.retries.length > 0);
    await staying.waitFor((x) => x.retries.length > 0);
    const sessionCookie = cat.client.cookie('tablo.sid');
    assert.ok(sessionCookie);

    await cat.client.get('/tablos');
    const logout = await cat.client.post('/logout');
    assert.equal(logout.status, 303);
    const how = await Promise.race([leaving.ended, new Promise((resolve) => setTimeout(resolve, 5_000, 'still open'))]);
    assert.equal(how, 'ended', 'the signed-out session’s stream ends');
    assert.equal(leaving.events.at(-1)?.type, 'signed-out', `it says why: ${leaving.describe()}`);

    // The other session streams on.
    await otherSession.get(`/tablos/${tablo}`);
    const message = await postOk({ ...cat, client: otherSession }, tablo, 'still here');
    await staying.waitForId(message.seq);
    assert.equal(staying.endedAs, undefined);
    assert.equal(leaving.messageIds.length, 0);

    // The old session cookie opens nothing any more.
    const replay = new Client(app.url);
    replay.setCookie('tablo.sid', sessionCookie);
    const refused = await stream(replay, tablo);
    assert.equal(refused.status, 401);
  });

  it('answers a stream request that races a sign-out with either 401 or a stream that ends', async () => {
    const dan = await registerPerson(app.url, 'Dan');
    const tablo = await createTablo(dan, 'Racing');
    await dan.client.get('/tablos');
    const cookie = dan.client.cookie('tablo.sid')!;
    const racer = new Client(app.url);
    racer.setCookie('tablo.sid', cookie);
    const [s] = await Promise.all([stream(racer, tablo), dan.client.post('/logout')]);
    if (s.status === 200) {
      const how = await Promise.race([s.ended, new Promise((resolve) => setTimeout(resolve, 5_000, 'still open'))]);
      assert.equal(how, 'ended');
    } else {
      assert.equal(s.status, 401);
    }
  });
});

describe('shutting down', () => {
  it('finishes the requests in flight before it stops, and takes no new one', async () => {
    const doomed = await startTestApp();
    try {
      const eve = await registerPerson(doomed.url, 'Eve');
      const tablo = await createTablo(eve, 'Closing time');
      await eve.client.get(`/tablos/${tablo}/discussion`);
      // A post whose body is half sent: the server is handling it when the stop begins.
      const post = await holdRequest(doomed.url, {
        method: 'POST',
        path: `/tablos/${tablo}/discussion/messages`,
        headers: {
          'Content-Type': 'application/x-www-form-urlencoded',
          Cookie: eve.client.cookieHeader(),
          'HX-Request': 'true',
          'X-CSRF-Token': eve.client.csrfToken ?? '',
        },
        body: new URLSearchParams({ body: 'the last word' }).toString(),
      });
      const stopped = doomed.stop();
      let stoppedYet = false;
      void stopped.then(() => (stoppedYet = true));
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(stoppedYet, false, 'the stop waits for the request in flight');
      // With no drain (SHUTDOWN_DRAIN_MS=0 in tests; processes.test.ts tests the drain), a readiness
      // probe on a new connection finds nobody listening (not a 200).
      await assert.rejects(fetch(new URL('/readyz', doomed.url)), 'no new connection during shutdown');
      // The rest of the body, and a readiness probe pipelined behind it on the same connection.
      const raw = await post.finish(`GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n`);
      assert.deepEqual(statuses(raw), [201], 'the post is answered; the connection closes after it');
      assert.match(raw, /^Connection: close\r$/im);
      assert.match(raw, /<article\b[^>]*id="message-\d+"/, 'the post was answered with its message');
      await stopped;
      const stored = await doomed.db
        .selectFrom('messages')
        .select('body')
        .where('tablo_id', '=', tablo)
        .execute()
        .catch(() => undefined);
      assert.equal(stored, undefined, 'the pool is closed once stopped');
    } finally {
      await doomed.close();
    }
  });

  it('tells every open stream to come back soon, and ends it', async () => {
    const doomed = await startTestApp();
    let stopped = false;
    try {
      const eve = await registerPerson(doomed.url, 'Eve');
      const tablo = await createTablo(eve, 'Last orders');
      const streams = [await openStream(eve.client, tablo), await openStream(eve.client, tablo)];
      for (const s of streams) await s.waitFor((x) => x.retries.length > 0);
      await doomed.stop();
      stopped = true;
      for (const s of streams) {
        assert.equal(await s.ended, 'ended');
        const farewell = s.events.at(-1);
        assert.equal(farewell?.type, 'server-restarting');
        assert.ok(farewell.fields.includes('retry'), 'the farewell carries a retry line');
        assert.equal(s.retries.length, 2, 'the opening retry and the farewell’s');
        assert.equal(s.retries[1], 500, 'come back in half a second');
      }
      assert.equal(doomed.live.openStreams, 0);
    } finally {
      if (!stopped) await doomed.stop();
      await doomed.close();
    }
  });
});
