import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import { elementById, eventually, postOk, unreadBadge } from './support/discussion.ts';
import {
  addOk,
  ended,
  eventsAbout,
  latestPresence,
  openEvents,
  presenceOnPage,
  presentIds,
  secondSession,
  Streams,
  tabloWith,
  unreadTotal,
} from './support/members.ts';
import { openStream, type SseStream } from './support/sse.ts';

let app: TestApp;
let ada: Person;
before(async () => {
  app = await startTestApp();
  ada = await registerPerson(app.url, 'Ada');
});
after(() => app.close());

const streams = new Streams();
const events = (person: Person) => streams.add(openEvents(person.client));
const discussion = (person: Person, tabloId: number, after?: number) => streams.add(openStream(person.client, tabloId, { after }));
// Every test starts with no stream open on the server, so counts of open streams mean something.
afterEach(async () => {
  streams.closeAll();
  await eventually(async () => app.live.openStreams === 0, 10_000, 'every stream to be closed');
});

const fresh = (name: string) => registerPerson(app.url, name);

/** Closes a stream and waits until the server has let go of it. */
async function closeTab(stream: SseStream): Promise<void> {
  const before = app.live.openStreams;
  stream.close();
  await eventually(async () => app.live.openStreams === before - 1, 10_000, 'the server to see the tab close');
}

const titleOf = (html: string) => /<title>([^<]*)<\/title>/.exec(html)?.[1];
const figure = (html: string, id: string) => elementById(html, id)?.inner.trim();
/** Unread as a person sees it: the badge of one tablo, and the total. */
const unread = async (person: Person, tabloId: number) => ({ badge: (await unreadBadge(person, tabloId)).count, total: await unreadTotal(person) });

describe('unread counts', () => {
  it('tell the reader’s other pages when they read, by opening the discussion or live', async () => {
    const bob = await fresh('Bob');
    const tablo = await tabloWith(ada, 'Read receipts', bob);
    const bobsList = await events(bob);
    await postOk(ada, tablo, 'one');
    await bobsList.waitFor((s) => eventsAbout(s, 'activity', tablo).length === 1, 10_000, 'activity');

    // Opening the discussion reads it: his list page hears so, and re-reads its counts.
    await bob.client.get(`/tablos/${tablo}/discussion`);
    await bobsList.waitFor((s) => eventsAbout(s, 'read', tablo).length === 1, 10_000, 'a read event on opening');
    assert.equal(await unreadTotal(bob), 0);

    // Reading live: the position is saved about a second later, then the list hears so.
    const tab = await discussion(bob, tablo, 1);
    await postOk(ada, tablo, 'two');
    await tab.waitForId(2);
    await bobsList.waitFor((s) => eventsAbout(s, 'read', tablo).length === 2, 10_000, 'a read event after reading live');
    assert.equal(await unreadTotal(bob), 0);
    // His discussion stream of that tablo is not told: it is where the reading happened.
    assert.equal(eventsAbout(tab, 'read', tablo).length, 0);
  });

  it('never count one’s own messages', async () => {
    const bob = await fresh('Bob');
    const tablo = await tabloWith(ada, 'Own words', bob);
    for (const body of ['one', 'two', 'three']) await postOk(ada, tablo, body);

    assert.deepEqual(await unreadBadge(ada, tablo), { count: 0, hidden: true });
    assert.equal(await unreadTotal(ada), 0);
    assert.deepEqual(await unreadBadge(bob, tablo), { count: 3, hidden: false });
    assert.equal(await unreadTotal(bob), 3);
  });

  it('count, for each member, the others’ messages since their last read, summed across tablos in /unread and the tab title', async () => {
    const [bob, cat] = [await fresh('Bob'), await fresh('Cat')];
    const tablo = await tabloWith(ada, 'Three voices', bob, cat);
    const side = await tabloWith(ada, 'Side room', bob);
    await postOk(ada, tablo, 'ada 1');
    await postOk(ada, tablo, 'ada 2');
    await postOk(bob, tablo, 'bob 1');
    await postOk(cat, tablo, 'cat 1');
    await postOk(ada, side, 'side 1');
    await postOk(ada, side, 'side 2');

    assert.deepEqual(await unread(ada, tablo), { badge: 2, total: 2 });
    assert.deepEqual(await unread(bob, tablo), { badge: 3, total: 5 });
    assert.deepEqual(await unread(bob, side), { badge: 2, total: 5 });
    assert.deepEqual(await unread(cat, tablo), { badge: 3, total: 3 });
    assert.equal(titleOf((await bob.client.get('/tablos')).html), '(5) Your tablos · Tablo');
    assert.equal(titleOf((await bob.client.get(`/tablos/${side}`)).html), '(5) Side room · Tablo');

    // Opening the discussion reads it up to its newest message, for that person only.
    const opened = await bob.client.get(`/tablos/${tablo}/discussion`);
    assert.equal(opened.status, 200);
    assert.equal(titleOf(opened.html), '(2) Three voices · Tablo', 'the title counts what is left: the other tablo');
    assert.deepEqual(await unreadBadge(bob, tablo), { count: 0, hidden: true });
    assert.deepEqual(await unread(bob, side), { badge: 2, total: 2 });
    assert.deepEqual(await unread(cat, tablo), { badge: 3, total: 3 });
    assert.equal(titleOf((await ada.client.get('/tablos')).html), '(2) Your tablos · Tablo');

    // New messages count again from there.
    await postOk(cat, tablo, 'cat 2');
    assert.deepEqual(await unread(bob, tablo), { badge: 1, total: 3 });
    assert.deepEqual(await unread(ada, tablo), { badge: 3, total: 3 });
    assert.deepEqual(await unread(cat, tablo), { badge: 3, total: 3 });
    assert.equal(titleOf((await cat.client.get('/tablos')).html), '(3) Your tablos · Tablo');
  });

  it('are read live while the discussion stream is open; someone without it open keeps counting', async () => {
    const [bob, cat] = [await fresh('Bob'), await fresh('Cat')];
    const tablo = await tabloWith(ada, 'Live reading', bob, cat);
    await postOk(ada, tablo, 'before');
    await bob.client.get(`/tablos/${tablo}/discussion`); // reads 'before'
    const bobsTab = await discussion(bob, tablo, 1);

    await postOk(ada, tablo, 'live 1');
    await postOk(ada, tablo, 'live 2');
    await bobsTab.waitForId(3);
    await eventually(async () => (await unreadTotal(bob)) === 0, 10_000, 'Bob’s /unread to drop to 0');
    await eventually(async () => (await unreadBadge(bob, tablo)).count === 0, 10_000, 'Bob’s badge to clear');
    assert.deepEqual(await unread(cat, tablo), { badge: 3, total: 3 }, 'Cat was not reading');
  });

  it('are read live by any open tab: closing one of two keeps reading, closing the last stops', async () => {
    const bob = await fresh('Bob');
    const bobsLaptop = await secondSession(app.url, bob);
    const tablo = await tabloWith(ada, 'Two tabs reading', bob);
    const elsewhere = await tabloWith(ada, 'Not being read', bob);
    const tabs = [await discussion(bob, tablo, 0), await discussion(bobsLaptop, tablo, 0)];

    await postOk(ada, tablo, 'to both tabs');
    for (const tab of tabs) await tab.waitForId(1);
    await eventually(async () => (await unreadTotal(bob)) === 0, 10_000, 'read with two tabs open');

    await closeTab(tabs[0]!);
    await postOk(ada, tablo, 'to the one left');
    await tabs[1]!.waitForId(2);
    await eventually(async () => (await unreadBadge(bob, tablo)).count === 0, 10_000, 'read with one tab open');

    // A tablo whose discussion is not open is not read by the other one's stream.
    await postOk(ada, elsewhere, 'unseen');
    await app.readTracker.flush();
    assert.deepEqual(await unread(bob, elsewhere), { badge: 1, total: 1 });

    await closeTab(tabs[1]!);
    await postOk(ada, tablo, 'to nobody');
    await postOk(ada, tablo, 'still nobody');
    await app.readTracker.flush(); // whatever reading there was is written now
    assert.deepEqual(await unread(bob, tablo), { badge: 2, total: 3 });
  });

  it('make the tab title and the badges of /tablos, and the fragment htmx refreshes it with', async () => {
    const bob = await fresh('Bob');
    const tablo = await tabloWith(ada, 'Badges', bob);
    await postOk(ada, tablo, 'hello Bob');
    const fragment = await bob.client.get('/tablos', { 'HX-Request': 'true' });
    assert.equal(fragment.status, 200);
    assert.match(fragment.html, /^<div id="tablo-home"[^>]*data-unread-total="1"/);
    assert.doesNotMatch(fragment.html, /<html|<body/);
    const item = elementById(fragment.html, `tablo-${tablo}`);
    assert.ok(item);
    assert.match(item.inner, /<span class="unread-count"[^>]*>1<\/span>/);
  });
});

describe('signed out', () => {
  it('/unread and /events answer 401', async () => {
    const stranger = new Client(app.url);
    assert.equal((await stranger.request('/unread', { headers: { 'HX-Request': 'true' } })).status, 401);
    assert.equal((await stranger.request('/unread')).status, 401);
    const s = await openEvents(stranger);
    assert.equal(s.status, 401);
    s.close();
  });
});

describe('the home', () => {
  it('shows figures and the latest messages of one’s own tablos, and nothing of others', async () => {
    const [bob, dan] = [await fresh('Bob'), await fresh('Dan')];
    const shared = await tabloWith(ada, 'Shared home', bob);
    const bobs = await createTablo(bob, 'Bob alone');
    const dans = await createTablo(dan, 'Dan elsewhere');
    const posted = [await postOk(ada, shared, 'first in shared'), await postOk(bob, bobs, 'note to self'), await postOk(ada, shared, 'second in shared')];
    await postOk(dan, dans, 'Dan’s private words');

    const home = await bob.client.get('/tablos');
    assert.equal(figure(home.html, 'figure-tablos'), '2');
    assert.equal(figure(home.html, 'figure-messages-today'), '3');
    assert.equal(figure(home.html, 'figure-online'), '0');
    const latest = elementById(home.html, 'latest-messages');
    assert.ok(latest, '#latest-messages');
    const ids = [...latest.inner.matchAll(/<article id="message-(\d+)"/g)].map((m) => Number(m[1]));
    assert.deepEqual(ids, posted.map((m) => m.id).reverse(), 'newest first, from both of Bob’s tablos');
    assert.match(latest.inner, new RegExp(`href="/tablos/${shared}/discussion"[^>]*>Shared home<`));
    assert.doesNotMatch(home.html, /Dan’s private words|Dan elsewhere/);
  });

  it('counts the other people with one of my tablos’ discussions open, and tells my streams when that changes', async () => {
    const [bob, dan] = [await fresh('Bob'), await fresh('Dan')];
    const tablo = await tabloWith(ada, 'Who is online', bob);
    const dans = await createTablo(dan, 'Dan’s room');
    const bobsEvents = await events(bob);
    const dansStream = await discussion(dan, dans); // not Bob's tablo: not counted for him
    const onlineFor = async (person: Person) => figure((await person.client.get('/tablos')).html, 'figure-online');

    const adasTab = await discussion(ada, tablo);
    await bobsEvents.waitFor((s) => eventsAbout(s, 'online', tablo).length === 1, 10_000, 'an online event');
    assert.equal(await onlineFor(bob), '1');
    assert.equal(await onlineFor(ada), '0', 'not counting oneself');

    await closeTab(adasTab);
    await bobsEvents.waitFor((s) => eventsAbout(s, 'online', tablo).length === 2, 10_000, 'a second online event');
    assert.equal(await onlineFor(bob), '0');
    assert.ok(!bobsEvents.events.some((e) => e.type === 'online' && JSON.parse(e.data).tablo === dans));
    assert.equal(dansStream.endedAs, undefined);
  });
});

describe('presence', () => {
  it('the discussion page lists who is here, counting the reader', async () => {
    const bob = await fresh('Bob');
    const tablo = await tabloWith(ada, 'Here now', bob);
    assert.deepEqual(presenceOnPage((await ada.client.get(`/tablos/${tablo}/discussion`)).html), [ada.id]);
    await discussion(bob, tablo);
    assert.deepEqual(presenceOnPage((await ada.client.get(`/tablos/${tablo}/discussion`)).html), [ada.id, bob.id]);
  });

  it('a person with several tabs counts once; closing one of two keeps them; closing the last removes them', async () => {
    const [bob, cat] = [await fresh('Bob'), await fresh('Cat')];
    const bobsLaptop = await secondSession(app.url, bob);
    const tablo = await tabloWith(ada, 'Tabs and people', bob, cat);
    const watcher = await discussion(ada, tablo);
    const present = (ids: number[]) => (s: SseStream) => latestPresence(s)?.join() === ids.join();
    await watcher.waitFor(present([ada.id]), 10_000, 'Ada alone');

    const bobsTabs = [await discussion(bob, tablo), await discussion(bob, tablo), await discussion(bobsLaptop, tablo)];
    await watcher.waitFor(present([ada.id, bob.id]), 10_000, 'Bob to arrive');

    // Cat's arrival makes a fresh presence event, sent after all of Bob's tabs were open.
    const catsTab = await discussion(cat, tablo);
    await watcher.waitFor(present([ada.id, bob.id, cat.id]), 10_000, 'Cat to arrive');
    const shown = watcher.events.filter((e) => e.type === 'presence').at(-1)!;
    assert.equal(shown.data.match(new RegExp(`data-user-id="${bob.id}"`, 'g'))?.length, 1, 'Bob once for his three tabs');
    assert.equal(shown.data.match(/data-user-id=/g)?.length, 3);

    // Two of Bob's three tabs close (one of each session); then Cat leaves, which makes a new event.
    await closeTab(bobsTabs[0]!);
    await closeTab(bobsTabs[2]!);
    await closeTab(catsTab);
    await watcher.waitFor(present([ada.id, bob.id]), 10_000, 'Cat to leave, Bob to stay');
    await closeTab(bobsTabs[1]!);
    await watcher.waitFor(present([ada.id]), 10_000, 'Bob to leave with his last tab');
    assert.equal(watcher.endedAs, undefined);
    // The page, rendered anew, agrees.
    assert.deepEqual(presenceOnPage((await cat.client.get(`/tablos/${tablo}/discussion`)).html), [ada.id, cat.id]);
  });

  it('every discussion stream of the tablo gets the same presence list, and the streams of other tablos none', async () => {
    const bob = await fresh('Bob');
    const tablo = await tabloWith(ada, 'Same list', bob);
    const other = await tabloWith(ada, 'Other list', bob);
    const adasOther = await discussion(ada, other);
    await adasOther.waitFor((s) => latestPresence(s)?.join() === String(ada.id), 10_000, 'Ada alone in the other tablo');
    const adas = await discussion(ada, tablo);
    const bobs = await discussion(bob, tablo);
    const both = (s: SseStream) => latestPresence(s)?.join() === [ada.id, bob.id].join();
    await adas.waitFor(both, 10_000, 'both on Ada’s stream');
    await bobs.waitFor(both, 10_000, 'both on Bob’s stream');
    assert.equal(adas.events.filter((e) => e.type === 'presence').at(-1)!.data, bobs.events.filter((e) => e.type === 'presence').at(-1)!.data);

    // A sentinel on the other tablo's stream: a message posted after both arrived.
    await postOk(ada, other, 'sentinel');
    await adasOther.waitForId(1);
    for (const event of adasOther.events.filter((e) => e.type === 'presence')) assert.deepEqual(presentIds(event.data), [ada.id]);
  });

  it('someone removed leaves the presence list at once', async () => {
    const bob = await fresh('Bob');
    const tablo = await tabloWith(ada, 'Removed presence', bob);
    const watcher = await discussion(ada, tablo);
    const bobsTab = await discussion(bob, tablo);
    await watcher.waitFor((s) => latestPresence(s)?.join() === [ada.id, bob.id].join(), 10_000, 'Bob to arrive');
    await ada.client.get(`/tablos/${tablo}`);
    assert.equal((await ada.client.post(`/tablos/${tablo}/members/${bob.id}/remove`)).status, 303);
    assert.equal(await ended(bobsTab), 'ended');
    await watcher.waitFor((s) => latestPresence(s)?.join() === String(ada.id), 10_000, 'Bob gone');
    assert.deepEqual(presenceOnPage((await ada.client.get(`/tablos/${tablo}/discussion`)).html), [ada.id]);
  });
});
