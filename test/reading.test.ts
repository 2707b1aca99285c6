import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import { articlesIn, attributes, elementById, postMany, postOk } from './support/discussion.ts';
import { tabloWith } from './support/members.ts';

let app: TestApp;
let ada: Person;
let bob: Person;
let eve: Person;
before(async () => {
  app = await startTestApp({ env: { POST_RATE_LIMIT: '0' } });
  [ada, bob, eve] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob'), registerPerson(app.url, 'Eve')]);
});
after(() => app.close());

/** The start tag of the element with this id, as attributes. */
const tagOf = (html: string, id: string) => {
  const tag = new RegExp(`<[a-z]+\\b([^>]*\\bid="${id}"[^>]*)>`).exec(html);
  assert.ok(tag, `#${id}`);
  return attributes(` ${tag[1]!}`);
};

describe('creating a tablo', () => {
  it('lands in its discussion: 303 to /tablos/{id}/discussion', async () => {
    await ada.client.get('/tablos');
    const response = await ada.client.post('/tablos', { title: 'Straight to talking' });
    assert.equal(response.status, 303);
    const location = response.headers.get('location') ?? '';
    assert.match(location, /^\/tablos\/\d+\/discussion$/);
    const page = await ada.client.get(location);
    assert.equal(page.status, 200);
    assert.match(page.html, /<h1>Straight to talking<\/h1>/);
  });
});

describe('the discussion page for every reader', () => {
  it('has #messages as a polite log, and a skip link to the composer', async () => {
    const tablo = await createTablo(ada, 'Accessible');
    const page = await ada.client.get(`/tablos/${tablo}/discussion`);
    const messages = tagOf(page.html, 'messages');
    assert.equal(messages.role, 'log');
    assert.equal(messages['aria-live'], 'polite');
    assert.match(page.html, /<a class="skip-link" href="#composer-body">Skip to composer<\/a>/);
    assert.match(page.html, /<textarea id="composer-body"/);
  });

  it('has a skip link to the content on other pages, signed in or not', async () => {
    for (const path of ['/tablos', `/tablos/${await createTablo(ada, 'Skipping')}`]) {
      const page = await ada.client.get(path);
      assert.match(page.html, /<a class="skip-link" href="#main">Skip to content<\/a>/, path);
      assert.match(page.html, /<main class="page" id="main"/, path);
    }
    const signedOut = await new Client(app.url).get('/login');
    assert.match(signedOut.html, /<a class="skip-link" href="#main">Skip to content<\/a>/);
  });

  it('says "Connecting…" only through its script, and what it lacks without one', async () => {
    const tablo = await createTablo(ada, 'No script status');
    const page = await ada.client.get(`/tablos/${tablo}/discussion`);
    const status = elementById(page.html, 'live-status');
    assert.ok(status);
    assert.equal(status.attrs['data-state'], 'connecting');
    assert.doesNotMatch(status.inner, /Connecting/);
    assert.match(status.inner, /Live updates need JavaScript/);
  });

  it('tells the page where the reader had read to before this visit marked it read', async () => {
    const tablo = await tabloWith(ada, 'Since you left', bob);
    await postMany(ada, tablo, 2);
    const first = await bob.client.get(`/tablos/${tablo}/discussion`);
    assert.equal(tagOf(first.html, 'messages')['data-last-read-seq'], '0');
    const unread = await postMany(ada, tablo, 3, (i) => `new ${i}`);
    const second = await bob.client.get(`/tablos/${tablo}/discussion`);
    assert.equal(tagOf(second.html, 'messages')['data-last-read-seq'], '2');
    assert.equal(Math.min(...articlesIn(second.html).map((a) => a.seq).filter((seq) => seq > 2)), unread[0]!.seq);
    const third = await bob.client.get(`/tablos/${tablo}/discussion`);
    assert.equal(tagOf(third.html, 'messages')['data-last-read-seq'], String(unread.at(-1)!.seq));
  });
});

describe('"load older" without JavaScript', () => {
  let tablo: number;
  before(async () => {
    tablo = await tabloWith(ada, 'Long history', bob);
    await postMany(ada, tablo, 120, (i) => `history ${i}`);
  });

  it('is a real link, from the page and from the fragment, to a page of older messages', async () => {
    const page = await ada.client.get(`/tablos/${tablo}/discussion`);
    const seqs = articlesIn(page.html).map((a) => a.seq);
    assert.deepEqual([seqs[0], seqs.length], [71, 50]);
    const link = /<a class="load-older-link" ([^>]*)>/.exec(page.html);
    assert.ok(link, 'a load-older link');
    const attrs = attributes(` ${link[1]!}`);
    assert.equal(attrs.href, `/tablos/${tablo}/discussion?before=71`);
    assert.equal(attrs['hx-get'], `/tablos/${tablo}/discussion/messages?before=71`);

    const fragment = await ada.client.get(`/tablos/${tablo}/discussion/messages?before=71`, { 'HX-Request': 'true' });
    assert.match(fragment.html, new RegExp(`<a class="load-older-link" href="/tablos/${tablo}/discussion\\?before=21"`));
  });

  it('opens the 50 messages before, oldest first, with the next link, read-only and without the stream', async () => {
    const page = await bob.client.get(`/tablos/${tablo}/discussion?before=71`);
    assert.equal(page.status, 200);
    const articles = articlesIn(page.html);
    assert.deepEqual(articles.map((a) => a.seq), Array.from({ length: 50 }, (_, i) => 21 + i));
    assert.equal(articles[0]!.bodyHtml, 'history 21');
    assert.match(page.html, new RegExp(`href="/tablos/${tablo}/discussion\\?before=21"`));
    assert.match(page.html, new RegExp(`<a class="button primary" href="/tablos/${tablo}/discussion">Back to the latest</a>`));
    assert.doesNotMatch(page.html, /hx-sse:connect|id="composer"/);
    assert.equal(tagOf(page.html, 'messages').role, 'log');

    const oldest = await bob.client.get(`/tablos/${tablo}/discussion?before=21`);
    assert.deepEqual(articlesIn(oldest.html).map((a) => a.seq), Array.from({ length: 20 }, (_, i) => 1 + i));
    assert.match(oldest.html, /This is the beginning of the discussion/);
  });

  it('does not mark anything read: only the newest page does', async () => {
    const fresh = await tabloWith(ada, 'Older only', bob);
    await postMany(ada, fresh, 60);
    await bob.client.get(`/tablos/${fresh}/discussion?before=30`);
    const page = await bob.client.get(`/tablos/${fresh}/discussion`);
    assert.equal(tagOf(page.html, 'messages')['data-last-read-seq'], '0');
  });

  it('is 404 to someone who is not a member, like the rest of the tablo', async () => {
    await eve.client.get('/tablos');
    assert.equal((await eve.client.get(`/tablos/${tablo}/discussion?before=71`)).status, 404);
  });
});

describe('the fragment', () => {
  it('renders Markdown once, the same bytes in the POST answer and on the page', async () => {
    const tablo = await createTablo(ada, 'Markdown');
    const article = await postOk(ada, tablo, '**Plan:** read https://en.wikipedia.org/wiki/Rocket_(disambiguation)\n\n```\n<b>x</b>\n```');
    assert.equal(
      article.bodyHtml,
      '<p><strong>Plan:</strong> read <a href="https://en.wikipedia.org/wiki/Rocket_(disambiguation)" rel="noopener noreferrer nofollow" target="_blank">https://en.wikipedia.org/wiki/Rocket_(disambiguation)</a></p>\n<pre><code>&lt;b&gt;x&lt;/b&gt;\n</code></pre>',
    );
    const page = await ada.client.get(`/tablos/${tablo}/discussion`);
    assert.equal(articlesIn(page.html).find((a) => a.id === article.id)?.html, article.html);
  });

  it('marks a message of one to three emoji to be shown large', async () => {
    const tablo = await createTablo(ada, 'Emoji');
    const large = await postOk(ada, tablo, '🎉 👍');
    assert.match(large.html, /<div class="message-body message-body--emoji">🎉 👍<\/div>/);
    const normal = await postOk(ada, tablo, 'thanks 👍');
    assert.match(normal.html, /<div class="message-body">thanks 👍<\/div>/);
  });
});
