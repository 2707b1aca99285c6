/**
 * People: /people lists everyone who shares a tablo with me, with handle, avatar and their
 * message count in the tablos we share (live: it follows posts and deletions); /people/{id} is a
 * profile for someone I share a tablo with, and 404 for anyone else.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { type Person, registerPerson } from './support/client.ts';
import { articlesIn, elementById, postOk } from './support/discussion.ts';
import { eventsAbout, htmx, openEvents, Streams, tabloWith } from './support/members.ts';

let app: TestApp;
let ada: Person;
let bob: Person;
let cat: Person;
let eve: Person; // shares nothing with Ada
let shared: number;
let adaAndCat: number;
let bobsOwn: number;
const streams = new Streams();
afterEach(() => streams.closeAll());

before(async () => {
  app = await startTestApp();
  [ada, bob, cat, eve] = await Promise.all([
    registerPerson(app.url, 'Ada Lovelace'),
    registerPerson(app.url, 'Bob'),
    registerPerson(app.url, 'Cat'),
    registerPerson(app.url, 'Eve'),
  ]);
  shared = await tabloWith(ada, 'Shared', bob, cat);
  adaAndCat = await tabloWith(ada, 'Ada and Cat', cat);
  bobsOwn = await tabloWith(bob, 'Bob and Eve', eve);
  for (const [person, tablo] of [[ada, shared], [bob, shared], [cat, shared], [cat, adaAndCat], [bob, bobsOwn]] as const) {
    await person.client.get(`/tablos/${tablo}/discussion`);
  }
});
after(() => app?.close());

/** The people on /people: id → their message count (and the item's HTML). */
async function peopleOf(person: Person, asHtmx = false): Promise<Map<number, { count: number; html: string }>> {
  const page = await person.client.get('/people', asHtmx ? { 'HX-Request': 'true' } : {});
  assert.equal(page.status, 200);
  const listed = new Map<number, { count: number; html: string }>();
  for (const m of page.html.matchAll(/<li id="person-(\d+)" class="person">([\s\S]*?)<\/li>/g)) {
    const count = /<span class="message-count">(\d+)<\/span>/.exec(m[2]!)?.[1];
    assert.ok(count !== undefined, '.message-count');
    listed.set(Number(m[1]), { count: Number(count), html: m[2]! });
  }
  return listed;
}

describe('people', () => {
  it('lists everyone who shares a tablo with me, with name, handle, avatar and message count', async () => {
    await postOk(bob, shared, 'one');
    await postOk(bob, shared, 'two');
    await postOk(bob, bobsOwn, 'not in a tablo Ada shares');
    await postOk(cat, adaAndCat, 'three');
    const listed = await peopleOf(ada);
    assert.deepEqual([...listed.keys()].sort((x, y) => x - y), [bob.id, cat.id].sort((x, y) => x - y));
    assert.equal(listed.get(bob.id)!.count, 2);
    assert.equal(listed.get(cat.id)!.count, 1);
    const bobsItem = listed.get(bob.id)!.html;
    assert.match(bobsItem, new RegExp(`<a class="person-name" href="/people/${bob.id}">Bob</a>`));
    const handle = await app.db.selectFrom('users').select('handle').where('id', '=', bob.id).executeTakeFirstOrThrow();
    assert.ok(bobsItem.includes(`@${handle.handle}`));
    // The avatar's colour is the same on every visit.
    const hue = /avatar avatar-hue-(\d+)/.exec(bobsItem)?.[1];
    assert.ok(hue !== undefined);
    assert.equal(/avatar avatar-hue-(\d+)/.exec((await peopleOf(cat)).get(bob.id)!.html)?.[1], hue);
    // Eve shares a tablo with Bob only.
    assert.deepEqual([...(await peopleOf(eve)).keys()], [bob.id]);
  });

  it('counts follow posts and deletions, and the page hears of them (live)', async () => {
    const before = (await peopleOf(ada)).get(cat.id)!.count;
    const events = await streams.add(openEvents(ada.client));
    const posted = await postOk(cat, shared, 'counted');
    await events.waitFor((s) => eventsAbout(s, 'activity', shared).length >= 1, 10_000, 'activity for Ada');
    assert.equal((await peopleOf(ada, true)).get(cat.id)!.count, before + 1);
    const deleted = await cat.client.post(`/tablos/${shared}/discussion/messages/${posted.id}/delete`, {}, htmx(cat));
    assert.equal(deleted.status, 200);
    await events.waitFor((s) => eventsAbout(s, 'activity', shared).length >= 2, 10_000, 'a second activity for Ada');
    assert.equal((await peopleOf(ada, true)).get(cat.id)!.count, before);
  });

  it('a profile shows the tablos we share and their latest messages there, rendered', async () => {
    const latest = await postOk(cat, adaAndCat, 'latest from **Cat**');
    const page = await ada.client.get(`/people/${cat.id}`);
    assert.equal(page.status, 200);
    const profile = elementById(page.html, 'profile');
    assert.ok(profile, '#profile');
    assert.match(profile.inner, /<h1 class="profile-name">Cat<\/h1>/);
    const tablos = [...profile.inner.matchAll(/<li id="shared-tablo-(\d+)">/g)].map((m) => Number(m[1]));
    assert.deepEqual(tablos.sort((x, y) => x - y), [shared, adaAndCat].sort((x, y) => x - y));
    const shown = articlesIn(profile.inner);
    assert.equal(shown[0]?.id, latest.id, 'the newest first');
    assert.equal(shown[0]?.html, latest.html, 'the very fragment everyone sees');
    assert.ok(shown.every((a) => a.authorId === cat.id));
    // Bob sees Cat's profile with their one shared tablo only.
    const bobs = await bob.client.get(`/people/${cat.id}`);
    assert.deepEqual([...bobs.html.matchAll(/<li id="shared-tablo-(\d+)">/g)].map((m) => Number(m[1])), [shared]);
    assert.ok(!bobs.html.includes('latest from'), 'nothing from a tablo Bob is not in');
    // htmx (the live page re-reading) gets the profile alone.
    const fragment = await ada.client.get(`/people/${cat.id}`, { 'HX-Request': 'true' });
    assert.ok(fragment.html.startsWith('<div id="profile"'));
  });

  it('404 for someone who shares no tablo with me, for an unknown id and for a bad one', async () => {
    assert.equal((await ada.client.get(`/people/${eve.id}`)).status, 404);
    assert.equal((await eve.client.get(`/people/${ada.id}`)).status, 404);
    assert.equal((await ada.client.get('/people/999999')).status, 404);
    for (const bad of ['abc', '0', '1e3', '-1']) assert.equal((await ada.client.get(`/people/${bad}`)).status, 404, bad);
    // Once they no longer share one, the profile goes.
    const leaving = await cat.client.post(`/tablos/${adaAndCat}/leave`, {});
    assert.equal(leaving.status, 303);
    assert.equal((await ada.client.get(`/people/${cat.id}`)).status, 200, 'still in Shared');
    await cat.client.get(`/tablos/${shared}`);
    assert.equal((await cat.client.post(`/tablos/${shared}/leave`, {})).status, 303);
    assert.equal((await ada.client.get(`/people/${cat.id}`)).status, 404);
    assert.ok(!(await peopleOf(ada)).has(cat.id));
  });

  it('names in messages and member lists link to profiles; signed out goes to sign in', async () => {
    const posted = await postOk(bob, shared, 'linked');
    assert.match(posted.html, new RegExp(`<a class="message-author" href="/people/${bob.id}">Bob</a>`));
    const page = await ada.client.get(`/tablos/${shared}`);
    assert.ok(page.html.includes(`href="/people/${bob.id}"`));
    const signedOut = await fetch(`${app.url}/people`, { redirect: 'manual' });
    assert.equal(signedOut.status, 303);
  });
});
