import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import {
  addMember,
  articlesIn,
  attributes,
  elementById,
  eventually,
  parseArticle,
  postMany,
  postMessage,
  postOk,
  storedCount,
  unreadBadge,
} from './support/discussion.ts';
import { openStream } from './support/sse.ts';

// These tests post hundreds of messages as one person: no posting limit (limits.test.ts tests it).
const UNLIMITED = { POST_RATE_LIMIT: '0' };
let app: TestApp;
let ada: Person;
let bob: Person;
let eve: Person;
before(async () => {
  app = await startTestApp({ env: UNLIMITED });
  [ada, bob, eve] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob'), registerPerson(app.url, 'Eve')]);
});
after(() => app.close());

const discussion = (tabloId: number) => `/tablos/${tabloId}/discussion`;
const messagesPath = (tabloId: number) => `/tablos/${tabloId}/discussion/messages`;

/** The `#composer-error` text of a re-rendered page, or the whole answer of an htmx 422. */
const composerError = (html: string) => (elementById(html, 'composer-error')?.inner ?? html).trim();

describe('posting a message', () => {
  let tablo: number;
  before(async () => {
    tablo = await createTablo(ada, 'Posting');
  });

  it('answers htmx with 201 and exactly the message fragment, the same bytes the page shows', async () => {
    const response = await postMessage(ada, tablo, 'Hello, team');
    assert.equal(response.status, 201);
    assert.match(response.headers.get('content-type') ?? '', /^text\/html/);
    const article = parseArticle(response.html);
    assert.equal(article.authorId, ada.id);
    assert.equal(article.author, 'Ada');
    assert.equal(article.bodyHtml, 'Hello, team');
    assert.ok(Math.abs(Date.parse(article.datetime) - Date.now()) < 10 * 60_000, `datetime ${article.datetime} is about now`);

    const page = await ada.client.get(discussion(tablo));
    const shown = articlesIn(page.html).find((a) => a.id === article.id);
    assert.ok(shown, 'the page shows the message');
    assert.equal(shown.html, response.html, 'render once: page and POST answer are the same bytes');
    // The seq is its number in the tablo.
    assert.equal(article.seq, Math.max(...articlesIn(page.html).map((a) => a.seq)));
  });

  it('answers a plain form with 303 to the message on the discussion page', async () => {
    const response = await postMessage(ada, tablo, 'Without JavaScript', { htmx: false });
    assert.equal(response.status, 303);
    const location = response.headers.get('location') ?? '';
    const match = new RegExp(`^/tablos/${tablo}/discussion#message-(\\d+)$`).exec(location);
    assert.ok(match, location);
    const page = await ada.client.get(location.replace(/#.*/, ''));
    const shown = articlesIn(page.html).find((a) => a.id === Number(match[1]));
    assert.ok(shown, 'the redirect points at the stored message');
    assert.equal(shown.bodyHtml, 'Without JavaScript');
  });

  it('numbers a tablo’s messages 1, 2, 3… on their own, independent of other tablos', async () => {
    const first = await createTablo(ada, 'Numbering one');
    const second = await createTablo(ada, 'Numbering two');
    const seqs: Array<[number, number]> = [];
    for (const t of [first, second, first, first, second]) seqs.push([t, (await postOk(ada, t, `in ${t}`)).seq]);
    assert.deepEqual(
      seqs.map(([, s]) => s),
      [1, 1, 2, 3, 2],
    );
  });

  it('trims the body and keeps its line breaks (CRLF from a textarea becomes one line break, a blank line a paragraph)', async () => {
    const article = await postOk(ada, tablo, '  \r\n first line\r\nsecond line\n\nfourth line \n ');
    assert.equal(article.bodyHtml, '<p>first line<br>\nsecond line</p>\n<p>fourth line</p>');
    assert.doesNotMatch(article.html, /\r/);
  });

  it('shows HTML in a body as text and turns a URL into a safe link', async () => {
    const hostile = await postOk(ada, tablo, '<script>alert(1)</script> & <b onclick="x()">bold</b>');
    assert.doesNotMatch(hostile.html, /<script|<b\b/);
    assert.equal(hostile.bodyHtml, '&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b onclick=&quot;x()&quot;&gt;bold&lt;/b&gt;');

    const linked = await postOk(ada, tablo, 'See https://example.com/a?b=1&c=2 for more');
    const link = /<a\b([^>]*)>([^<]*)<\/a>/.exec(linked.bodyHtml);
    assert.ok(link, `a link in ${linked.bodyHtml}`);
    const attrs = attributes(link[1]!);
    assert.equal(attrs.href, 'https://example.com/a?b=1&amp;c=2');
    assert.deepEqual((attrs.rel ?? '').split(/\s+/).sort(), ['nofollow', 'noopener', 'noreferrer']);
    assert.equal(link[2], 'https://example.com/a?b=1&amp;c=2');
    assert.match(linked.bodyHtml, /^See <a\b[^>]*>[^<]*<\/a> for more$/);

    const sneaky = await postOk(ada, tablo, 'javascript:alert(1) and http://x.test/"onmouseover="alert(1)');
    assert.doesNotMatch(sneaky.bodyHtml, /href="javascript:/);
    assert.doesNotMatch(sneaky.bodyHtml, /"onmouseover=/);
  });

  it('accepts a body of exactly 5000 characters, 4-byte emoji counted as one each', async () => {
    for (const body of ['x'.repeat(5000), '😀'.repeat(5000)]) {
      const article = await postOk(ada, tablo, body);
      assert.equal(article.bodyHtml, body);
      const page = await ada.client.get(discussion(tablo));
      assert.equal(articlesIn(page.html).find((a) => a.id === article.id)?.html, article.html);
    }
  });

  const invalid: Array<[string, string, RegExp]> = [
    ['an empty body', '', /write something/i],
    ['a whitespace-only body', ' \r\n\t \n ', /write something/i],
    ['a body of 5001 characters', 'y'.repeat(5001), /5,?000/],
    ['a body of 5001 emoji', '😀'.repeat(5001), /5,?000/],
  ];
  for (const [what, body, reason] of invalid) {
    for (const htmx of [true, false]) {
      it(`answers 422 with the reason for ${what} (${htmx ? 'htmx' : 'plain form'}); nothing is stored`, async () => {
        const before = await storedCount(app.db, tablo);
        const response = await postMessage(ada, tablo, body, { htmx });
        assert.equal(response.status, 422);
        assert.match(composerError(response.html), reason);
        if (!htmx) {
          assert.ok(elementById(response.html, 'composer'), 'the form is re-rendered');
        }
        assert.equal(await storedCount(app.db, tablo), before);
      });
    }
  }

  it('answers 422 when the body field is missing altogether', async () => {
    const before = await storedCount(app.db, tablo);
    const response = await ada.client.post(messagesPath(tablo), {}, { 'HX-Request': 'true' });
    assert.equal(response.status, 422);
    assert.equal(await storedCount(app.db, tablo), before);
  });

  it('answers 413 to a request body over 64 KiB; nothing is stored', async () => {
    const before = await storedCount(app.db, tablo);
    const response = await postMessage(ada, tablo, 'z'.repeat(70 * 1024));
    assert.equal(response.status, 413);
    assert.equal(await storedCount(app.db, tablo), before);
  });

  it('stores one message for a client_token sent twice, and answers it both times', async () => {
    const before = await storedCount(app.db, tablo);
    const token = `token-${Date.now()}`;
    const first = await postMessage(ada, tablo, 'Double click', { clientToken: token });
    const second = await postMessage(ada, tablo, 'Double click', { clientToken: token });
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.equal(second.html, first.html);
    // Plain form retry: redirected to the very same message.
    const third = await postMessage(ada, tablo, 'Double click', { clientToken: token, htmx: false });
    assert.equal(third.status, 303);
    assert.equal(third.headers.get('location'), `${discussion(tablo)}#message-${parseArticle(first.html).id}`);
    assert.equal(await storedCount(app.db, tablo), before + 1);
  });

  it('stores one message for concurrent requests with the same client_token', async () => {
    const before = await storedCount(app.db, tablo);
    const token = `race-${Date.now()}`;
    const answers = await Promise.all(Array.from({ length: 6 }, () => postMessage(ada, tablo, 'At once', { clientToken: token })));
    for (const answer of answers) assert.equal(answer.status, 201, answer.html);
    assert.equal(new Set(answers.map((a) => a.html)).size, 1, 'every answer is the same message');
    assert.equal(await storedCount(app.db, tablo), before + 1);
  });

  it('gives another author with the same client_token their own message', async () => {
    const shared = await createTablo(ada, 'Shared tokens');
    await addMember(app.db, shared, bob.id);
    const token = `same-${Date.now()}`;
    const adas = await postOk(ada, shared, 'From Ada', token);
    const bobs = await postOk(bob, shared, 'From Bob', token);
    assert.notEqual(bobs.id, adas.id);
    assert.equal(bobs.authorId, bob.id);
    assert.equal(bobs.bodyHtml, 'From Bob');
    assert.equal(await storedCount(app.db, shared), 2);
  });

  it('accepts a client_token of 64 characters and answers 422 to one of 65; nothing is stored', async () => {
    const before = await storedCount(app.db, tablo);
    await postOk(ada, tablo, 'Token of 64', 't'.repeat(64));
    const response = await postMessage(ada, tablo, 'Token of 65', { clientToken: 't'.repeat(65) });
    assert.equal(response.status, 422);
    assert.ok(composerError(response.html).length > 0, 'a readable reason');
    assert.equal(await storedCount(app.db, tablo), before + 1);
  });

  for (const [what, headers, fields] of [
    ['a plain form without _csrf', {}, {}],
    ['htmx without a token', { 'HX-Request': 'true' }, {}],
    ['a wrong token', { 'HX-Request': 'true', 'X-CSRF-Token': 'forged' }, { _csrf: 'forged' }],
  ] as Array<[string, Record<string, string>, Record<string, string>]>) {
    it(`answers 403 to ${what}; nothing is stored`, async () => {
      const before = await storedCount(app.db, tablo);
      const response = await ada.client.request(messagesPath(tablo), {
        method: 'POST',
        body: new URLSearchParams({ body: 'Forged', ...fields }),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
      });
      assert.equal(response.status, 403);
      assert.equal(await storedCount(app.db, tablo), before);
    });
  }
});

describe('who may see a discussion', () => {
  let tablo: number;
  before(async () => {
    tablo = await createTablo(ada, 'Private discussion');
    await postOk(ada, tablo, 'For members only');
  });

  it('answers 404 to a non-member everywhere: page, older-messages fragment, POST and stream', async () => {
    await eve.client.get('/tablos');
    const page = await eve.client.get(discussion(tablo));
    assert.equal(page.status, 404);
    assert.doesNotMatch(page.html, /For members only|Private discussion/);
    const fragment = await eve.client.get(`${messagesPath(tablo)}?before=2`, { 'HX-Request': 'true' });
    assert.equal(fragment.status, 404);
    assert.doesNotMatch(fragment.html, /For members only/);
    const before = await storedCount(app.db, tablo);
    for (const htmx of [true, false]) {
      const post = await postMessage(eve, tablo, 'Let me in', { htmx });
      assert.equal(post.status, 404);
    }
    assert.equal(await storedCount(app.db, tablo), before);
    const stream = await openStream(eve.client, tablo);
    assert.equal(stream.status, 404);
    assert.doesNotMatch(stream.response.headers.get('content-type') ?? '', /event-stream/);
    assert.equal(await stream.ended, 'ended');
    assert.equal(stream.events.length, 0);
  });

  it('lets a member in (control for the 404s above)', async () => {
    const shared = await createTablo(ada, 'Members welcome');
    await addMember(app.db, shared, bob.id);
    await postOk(ada, shared, 'Welcome, Bob');
    assert.equal((await bob.client.get(discussion(shared))).status, 200);
    assert.equal((await bob.client.get(`${messagesPath(shared)}?before=2`, { 'HX-Request': 'true' })).status, 200);
    await postOk(bob, shared, 'Thanks');
    const stream = await openStream(bob.client, shared);
    assert.equal(stream.status, 200);
    stream.close();
  });

  it('sends a signed-out visitor of the page to sign in, and answers 401 to the stream and the fragment', async () => {
    const stranger = new Client(app.url);
    const page = await stranger.get(discussion(tablo));
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), `/login?next=${encodeURIComponent(discussion(tablo))}`);
    const fragment = await stranger.get(`${messagesPath(tablo)}?before=2`, { 'HX-Request': 'true' });
    assert.equal(fragment.status, 401);
    assert.doesNotMatch(fragment.html, /For members only/);
    const stream = await openStream(stranger, tablo);
    assert.equal(stream.status, 401);
    await stream.ended;
    assert.equal(stream.events.length, 0);
  });

  for (const id of ['abc', '0', '1e3', '-1', '01', '2147483648', '1.0']) {
    it(`answers 404 for the malformed id ${JSON.stringify(id)} on page, fragment, POST and stream`, async () => {
      assert.equal((await ada.client.get(`/tablos/${id}/discussion`)).status, 404);
      assert.equal((await ada.client.get(`/tablos/${id}/discussion/messages?before=2`, { 'HX-Request': 'true' })).status, 404);
      await ada.client.get('/tablos');
      const post = await ada.client.post(`/tablos/${id}/discussion/messages`, { body: 'x' }, { 'HX-Request': 'true' });
      assert.equal(post.status, 404);
      const stream = await ada.client.request(`/tablos/${id}/discussion/stream`, { headers: { Accept: 'text/event-stream' } });
      assert.equal(stream.status, 404);
      await stream.body?.cancel();
    });
  }
});

describe('the discussion page', () => {
  it('shows the composer, the connecting status and an empty list for a new tablo, streaming after 0', async () => {
    const tablo = await createTablo(ada, 'Empty room');
    const page = await ada.client.get(discussion(tablo));
    assert.equal(page.status, 200);
    const messages = elementById(page.html, 'messages');
    assert.ok(messages, '#messages');
    assert.deepEqual(articlesIn(messages.inner), []);
    assert.match(page.html, new RegExp(`hx-sse:connect="/tablos/${tablo}/discussion/stream\\?after=0"`));
  });

  it('holds the latest 50 messages oldest-first, the composer, the live status and a stream resuming after the newest', async () => {
    const tablo = await createTablo(ada, 'Busy room');
    const posted = await postMany(ada, tablo, 60, (i) => `message ${i}`);
    const page = await ada.client.get(discussion(tablo));
    assert.equal(page.status, 200);

    const messages = elementById(page.html, 'messages');
    assert.ok(messages, '#messages');
    const shown = articlesIn(messages.inner);
    assert.deepEqual(
      shown.map((a) => a.seq),
      Array.from({ length: 50 }, (_, i) => i + 11),
    );
    assert.deepEqual(
      shown.map((a) => a.bodyHtml),
      Array.from({ length: 50 }, (_, i) => `message ${i + 11}`),
    );
    // Render once: the page's articles are the POST answers' bytes.
    assert.deepEqual(
      shown.map((a) => a.html),
      posted.slice(10).map((a) => a.html),
    );

    const status = elementById(page.html, 'live-status');
    assert.ok(status, '#live-status');
    assert.equal(status.attrs['data-state'], 'connecting');

    const composer = elementById(page.html, 'composer');
    assert.ok(composer, 'form#composer');
    assert.equal(composer.tag, 'form');
    assert.match(composer.inner, /<textarea\b[^>]*\sname="body"/);
    const hidden = (name: string) =>
      [...composer.inner.matchAll(/<input\b[^>]*>/g)].map((m) => attributes(m[0])).find((a) => a.name === name);
    assert.equal(hidden('client_token')?.type, 'hidden');
    assert.ok((hidden('client_token')?.value ?? '').length > 0, 'a client_token');
    assert.ok((hidden('client_token')?.value ?? '').length <= 64);
    assert.equal(hidden('_csrf')?.type, 'hidden');
    assert.equal(hidden('_csrf')?.value, ada.client.csrfToken);

    const connect = /hx-sse:connect="([^"]+)"/.exec(page.html)?.[1];
    assert.ok(connect, 'hx-sse:connect');
    const url = new URL(connect.replace(/&amp;/g, '&'), app.url);
    assert.equal(url.pathname, `/tablos/${tablo}/discussion/stream`);
    assert.equal(url.searchParams.get('after'), '60');
  });

  it('gives each page its own client_token', async () => {
    const tablo = await createTablo(ada, 'Tokens');
    const token = async () => /name="client_token" value="([^"]+)"/.exec((await ada.client.get(discussion(tablo))).html)?.[1];
    const [a, b] = [await token(), await token()];
    assert.ok(a && b);
    assert.notEqual(a, b);
  });

  it('serves older messages 50 at a time, oldest-first, with a load-older control while more remain', async () => {
    const tablo = await createTablo(ada, 'Long history');
    const posted = await postMany(ada, tablo, 120, (i) => `old ${i}`, 4);
    const bySeq = new Map(posted.map((a) => [a.seq, a.html]));
    const older = (before: number) => ada.client.get(`${messagesPath(tablo)}?before=${before}`, { 'HX-Request': 'true' });
    const loadOlderLink = (html: string) => {
      const control = elementById(html, 'load-older');
      assert.ok(control, '#load-older');
      const link = /<a\b[^>]*\bhx-get="([^"]+)"/.exec(control.inner);
      if (link) assert.match(link[0], new RegExp(`href="/tablos/${tablo}/discussion\\?before=\\d+"`), 'a real link, for pages without JavaScript');
      return link?.[1];
    };

    const page = await ada.client.get(discussion(tablo));
    assert.equal(loadOlderLink(page.html), `${messagesPath(tablo)}?before=71`);

    const second = await older(71);
    assert.equal(second.status, 200);
    const secondArticles = articlesIn(second.html);
    assert.deepEqual(
      secondArticles.map((a) => a.seq),
      Array.from({ length: 50 }, (_, i) => i + 21),
    );
    for (const a of secondArticles) assert.equal(a.html, bySeq.get(a.seq));
    assert.equal(loadOlderLink(second.html), `${messagesPath(tablo)}?before=21`);

    const third = await older(21);
    assert.equal(third.status, 200);
    assert.deepEqual(
      articlesIn(third.html).map((a) => a.seq),
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    assert.equal(loadOlderLink(third.html), undefined, 'no further "load older" link');
    assert.doesNotMatch(third.html, /Load older/i);

    // Exactly 50 left: all of them, and nothing more to load.
    const exact = await older(51);
    assert.deepEqual(
      articlesIn(exact.html).map((a) => a.seq),
      Array.from({ length: 50 }, (_, i) => i + 1),
    );
    assert.equal(loadOlderLink(exact.html), undefined);

    assert.deepEqual(articlesIn((await older(1)).html), []);
  });
});

describe('unread counts', () => {
  it('count messages by others above the last-read seq, never one’s own, and clear when the discussion is opened', async () => {
    const tablo = await createTablo(ada, 'Unread');
    await addMember(app.db, tablo, bob.id);
    assert.deepEqual(await unreadBadge(ada, tablo), { count: 0, hidden: true });

    await postMany(bob, tablo, 3, (i) => `from Bob ${i}`);
    assert.equal((await unreadBadge(ada, tablo)).count, 3);
    assert.equal((await unreadBadge(ada, tablo)).hidden, false);
    assert.equal((await unreadBadge(bob, tablo)).count, 0, 'one’s own messages are never unread');

    await postMany(ada, tablo, 2, (i) => `from Ada ${i}`);
    assert.equal((await unreadBadge(ada, tablo)).count, 3, 'posting does not count for oneself');
    assert.equal((await unreadBadge(bob, tablo)).count, 2);

    assert.equal((await ada.client.get(discussion(tablo))).status, 200);
    assert.deepEqual(await unreadBadge(ada, tablo), { count: 0, hidden: true });
    assert.equal((await unreadBadge(bob, tablo)).count, 2, 'Ada reading does not read for Bob');

    await postOk(bob, tablo, 'one more');
    assert.equal((await unreadBadge(ada, tablo)).count, 1, 'counted from the last-read seq on');
  });

  it('marks messages that arrive live on an open stream as read', async () => {
    const tablo = await createTablo(ada, 'Read live');
    await addMember(app.db, tablo, bob.id);
    const page = await ada.client.get(discussion(tablo));
    const connect = /hx-sse:connect="([^"]+)"/.exec(page.html)?.[1];
    assert.ok(connect);
    const stream = await openStream(ada.client, tablo, { url: connect.replace(/&amp;/g, '&') });
    try {
      assert.equal(stream.status, 200);
      const posted = await postMany(bob, tablo, 4, (i) => `live ${i}`);
      await stream.waitForId(posted.at(-1)!.seq);
      await eventually(async () => (await unreadBadge(ada, tablo)).count === 0, 10_000, 'the live messages to be read');
      assert.deepEqual(await unreadBadge(ada, tablo), { count: 0, hidden: true });
    } finally {
      stream.close();
    }
    // Control: with the stream closed (and let go of by the server), new messages are unread again.
    await eventually(async () => app.live.openStreams === 0, 10_000, 'the stream to be let go');
    await postOk(bob, tablo, 'while away');
    await app.readTracker.flush(); // whatever the closed stream had shown is written now
    assert.equal((await unreadBadge(ada, tablo)).count, 1);
  });
});

describe('the page shows each message as it is now (fragments are remembered)', () => {
  it('after a rename of its author, of a quoted author or of a reactor, and after an edit', async () => {
    const [cy, dee] = await Promise.all([registerPerson(app.url, 'Cy'), registerPerson(app.url, 'Dee')]);
    const tablo = await createTablo(cy, 'Renames');
    await addMember(app.db, tablo, dee.id);
    const original = await postOk(cy, tablo, 'The first plan');
    await dee.client.get(discussion(tablo));
    const reply = await postMessage(dee, tablo, 'Agreed', { fields: { reply_to: String(original.id) } });
    assert.equal(reply.status, 201);
    const reacted = await dee.client.post(`${messagesPath(tablo)}/${original.id}/reactions`, { emoji: '👍' }, { 'HX-Request': 'true', 'X-CSRF-Token': dee.client.csrfToken ?? '' });
    assert.equal(reacted.status, 200);

    const shown = async () => {
      const page = await cy.client.get(discussion(tablo));
      assert.equal(page.status, 200);
      const [first, second] = articlesIn(page.html);
      assert.ok(first && second, 'both messages are on the page');
      return { first, second };
    };
    const before = await shown();
    assert.equal(before.first.author, 'Cy');
    assert.match(before.second.html, /<span class="message-reply-author">Cy<\/span>/);
    assert.match(before.first.html, /title="Dee"/);
    assert.equal((await shown()).first.html, before.first.html, 'the same bytes, page after page');

    await cy.client.get('/settings');
    assert.equal((await cy.client.post('/settings/name', { name: 'Cy Renamed' })).status, 303);
    await dee.client.get('/settings');
    assert.equal((await dee.client.post('/settings/name', { name: 'Dee Renamed' })).status, 303);
    const renamed = await shown();
    assert.equal(renamed.first.author, 'Cy Renamed');
    assert.equal(renamed.first.version, before.first.version, 'a rename is no new version');
    assert.match(renamed.first.html, /title="Dee Renamed"/);
    assert.equal(renamed.second.author, 'Dee Renamed');
    assert.match(renamed.second.html, /<span class="message-reply-author">Cy Renamed<\/span>/);

    const edited = await cy.client.post(`${messagesPath(tablo)}/${original.id}/edit`, { body: 'The second plan' }, { 'HX-Request': 'true', 'X-CSRF-Token': cy.client.csrfToken ?? '' });
    assert.equal(edited.status, 200);
    const after = await shown();
    assert.equal(after.first.bodyHtml, 'The second plan');
    assert.equal(after.first.html, parseArticle(edited.html).html, 'the page shows the bytes the edit answered (and the stream sent)');
    assert.match(after.second.html, /<span class="message-reply-text">The second plan<\/span>/, 'the quote shows the edited text');
  });
});
