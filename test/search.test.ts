/**
 * Search: every word of the query, case- and accent-insensitive in any script written with
 * spaces, newest first, paged, in the tablos one is a member of (or one of them), never a deleted
 * message, an edited one by its current text, found as soon as its POST has answered; matches in
 * `mark`, and nothing of a body ever interpreted as HTML.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { highlight, readQuery } from '../src/search/search.ts';
import { type TestApp, startTestApp } from './support/app.ts';
import { type Person, registerPerson } from './support/client.ts';
import { postOk } from './support/discussion.ts';
import { htmx, tabloWith } from './support/members.ts';

let app: TestApp;
let ada: Person;
let bob: Person;
let eve: Person; // a stranger to Ada's tablos
let team: number;
let other: number;
let evesOwn: number;

before(async () => {
  app = await startTestApp({ env: { POST_RATE_LIMIT: '0' } });
  [ada, bob, eve] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob'), registerPerson(app.url, 'Eve')]);
  team = await tabloWith(ada, 'Team', bob);
  other = await tabloWith(ada, 'Other');
  evesOwn = await tabloWith(eve, 'Secret');
  for (const [person, tablo] of [[ada, team], [bob, team], [ada, other], [eve, evesOwn]] as const) {
    await person.client.get(`/tablos/${tablo}/discussion`);
  }
});
after(() => app?.close());

type Found = { status: number; results: { href: string; text: string; marks: string[]; id: number }[]; more: string | undefined; html: string };

async function search(person: Person, params: Record<string, string>, asHtmx = false): Promise<Found> {
  const response = await person.client.request(`/search?${new URLSearchParams(params)}`, { headers: asHtmx ? { 'HX-Request': 'true' } : {} });
  const html = await response.text();
  const results = [...html.matchAll(/<li class="search-result" id="search-result-(\d+)">([\s\S]*?)<\/li>/g)].map((m) => {
    const inner = m[2]!;
    const link = /<a class="search-result-link" href="([^"]+)"><span class="search-result-text">([\s\S]*?)<\/span><\/a>/.exec(inner);
    assert.ok(link, 'a permalink with the text');
    return {
      id: Number(m[1]),
      href: link[1]!.replace(/&amp;/g, '&'),
      text: link[2]!,
      marks: [...link[2]!.matchAll(/<mark>([^<]*)<\/mark>/g)].map((x) => x[1]!),
    };
  });
  const more = /<p class="search-more"><a href="([^"]+)">/.exec(html)?.[1]?.replace(/&amp;/g, '&');
  return { status: response.status, results, more, html };
}

const ids = (found: Found) => found.results.map((r) => r.id);

describe('search', () => {
  it('finds every word, case- and accent-insensitive, in any script, with a permalink and marks', async () => {
    const french = await postOk(ada, team, 'Le Café de la gare ouvre à Noël');
    const russian = await postOk(bob, team, 'Привет, команда! Встреча завтра');
    const greek = await postOk(bob, team, 'Καλημέρα σε όλους, η ΣΥΝΑΝΤΗΣΗ είναι αύριο');
    await postOk(ada, team, 'cafe only, no station');

    const cafe = await search(ada, { q: 'CAFE noel' });
    assert.equal(cafe.status, 200);
    assert.deepEqual(ids(cafe), [french.id]);
    assert.equal(cafe.results[0]!.href, `/tablos/${team}/discussion?at=${french.seq}`);
    assert.deepEqual(cafe.results[0]!.marks, ['Café', 'Noël']);

    assert.deepEqual(ids(await search(bob, { q: 'привет ВСТРЕЧА' })), [russian.id]);
    assert.deepEqual(ids(await search(bob, { q: 'καλημερα συναντηση' })), [greek.id]);
    assert.deepEqual((await search(bob, { q: 'συνάντηση' })).results[0]?.marks, ['ΣΥΝΑΝΤΗΣΗ']);
    // The last word is a prefix while it is being typed.
    assert.deepEqual(ids(await search(bob, { q: 'Le caf' })), [french.id]);
    assert.deepEqual(ids(await search(bob, { q: 'Le caf ' })), []);
  });

  it('only in tablos one is a member of; a stranger’s tablo is 404', async () => {
    const secret = await postOk(eve, evesOwn, 'zanzibar plans for the secret tablo');
    const mine = await postOk(ada, other, 'zanzibar plans for my tablo');
    assert.deepEqual(ids(await search(ada, { q: 'zanzibar plans' })), [mine.id]);
    assert.deepEqual(ids(await search(bob, { q: 'zanzibar' })), []);
    assert.deepEqual(ids(await search(eve, { q: 'zanzibar' })), [secret.id]);
    assert.equal((await search(ada, { q: 'zanzibar', tablo: String(evesOwn) })).status, 404);
    assert.equal((await search(ada, { q: 'zanzibar', tablo: 'abc' })).status, 404);
    const signedOut = await fetch(`${app.url}/search?q=zanzibar`, { redirect: 'manual' });
    assert.equal(signedOut.status, 303);
  });

  it('within one tablo', async () => {
    const inTeam = await postOk(ada, team, 'quokka sighting');
    const inOther = await postOk(ada, other, 'quokka sighting too');
    assert.deepEqual(ids(await search(ada, { q: 'quokka' })), [inOther.id, inTeam.id]);
    assert.deepEqual(ids(await search(ada, { q: 'quokka', tablo: String(team) })), [inTeam.id]);
  });

  it('never a deleted message; an edited one by its current text only, as soon as the POST answered', async () => {
    const posted = await postOk(ada, team, 'walrus agenda');
    assert.deepEqual(ids(await search(bob, { q: 'walrus' })), [posted.id]);
    const edited = await ada.client.post(`/tablos/${team}/discussion/messages/${posted.id}/edit`, { body: 'narwhal agenda' }, htmx(ada));
    assert.equal(edited.status, 200);
    assert.deepEqual(ids(await search(bob, { q: 'walrus' })), []);
    assert.deepEqual(ids(await search(bob, { q: 'narwhal' })), [posted.id]);
    const deleted = await ada.client.post(`/tablos/${team}/discussion/messages/${posted.id}/delete`, {}, htmx(ada));
    assert.equal(deleted.status, 200);
    assert.deepEqual(ids(await search(bob, { q: 'narwhal' })), []);
    assert.deepEqual(ids(await search(bob, { q: 'agenda' })), []);
  });

  it('newest first, paged', async () => {
    const posted = [];
    for (let i = 1; i <= 45; i++) posted.push(await postOk(bob, team, `pangolin report ${i}`));
    const newestFirst = posted.map((p) => p.id).reverse();
    const first = await search(ada, { q: 'pangolin report' });
    assert.deepEqual(ids(first), newestFirst.slice(0, 20));
    assert.ok(first.more, 'a link to older results');
    const second = await search(ada, Object.fromEntries(new URL(first.more!, app.url).searchParams));
    assert.deepEqual(ids(second), newestFirst.slice(20, 40));
    const third = await search(ada, Object.fromEntries(new URL(second.more!, app.url).searchParams));
    assert.deepEqual(ids(third), newestFirst.slice(40));
    assert.equal(third.more, undefined);
  });

  it('shows a hostile body as text, the marks alone being HTML', async () => {
    const hostile = '<img src=x onerror=alert(1)> "><script>alert(2)</script> mongoose &amp; <b>mongoose</b>';
    await postOk(ada, team, hostile);
    for (const asHtmx of [false, true]) {
      const found = await search(ada, { q: 'mongoose' }, asHtmx);
      assert.equal(found.results.length, 1);
      const text = found.results[0]!.text;
      assert.equal(text.replace(/<\/?mark>/g, '').match(/[<>]/), null, `only marks are tags: ${text}`);
      assert.ok(text.includes('&lt;img src=x onerror=alert(1)&gt;'));
      assert.ok(text.includes('&amp;amp;'));
      assert.deepEqual(found.results[0]!.marks, ['mongoose', 'mongoose']);
      assert.ok(!found.html.includes('<script>alert'), 'no script from the body');
    }
    // A query that is all tsquery syntax finds nothing and breaks nothing.
    const syntax = await search(ada, { q: "!&|:*()' \\ <mark>" });
    assert.equal(syntax.status, 200);
  });

  it('answers htmx with the results alone; the page has the box and the results', async () => {
    const page = await ada.client.get('/search?q=pangolin');
    assert.equal(page.status, 200);
    assert.match(page.html, /<input type="search" id="search-q" name="q" value="pangolin"/);
    assert.match(page.html, /hx-trigger="input changed delay:300ms, search"/);
    assert.match(page.html, /id="header-search"/);
    const fragment = await search(ada, { q: 'pangolin' }, true);
    assert.ok(fragment.html.startsWith('<div id="search-results"'));
    assert.ok(!fragment.html.includes('<html'));
  });

  it('reads queries and marks words without a database', () => {
    assert.deepEqual(readQuery(' foo-bar  baz').words, ['foo', 'bar', 'baz']);
    assert.equal(readQuery('foo ').prefixLast, false);
    assert.equal(highlight('Ünïcode naïve', ['UNICODE', 'naive']), '<mark>Ünïcode</mark> <mark>naïve</mark>');
  });
});
