import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { createTablo, type Person, registerPerson } from './support/client.ts';
import { elementById, eventually, postMessage, postOk, storedCount } from './support/discussion.ts';
import {
  about,
  ended,
  addByEmail,
  addOk,
  eventsAbout,
  h1,
  htmx,
  acceptOk,
  invitationsOnHome,
  inviteOk,
  pendingInvitations,
  latestPresence,
  listedMembers,
  listedTablos,
  membersOnPage,
  mentionsTablo,
  openEvents,
  removeMember,
  secondSession,
  Streams,
  tabloWith,
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
const titleOf = async (person: Person, tabloId: number) => h1((await person.client.get(`/tablos/${tabloId}`)).html);
const addMemberError = (html: string) => /<p class="field-error" id="add-member-error"[^>]*>([^<]*)<\/p>/.exec(html)?.[1];
const INVITED = 'invited.already@example.test';
const alert = (html: string) => /<p class="alert" role="alert">([^<]*)<\/p>/.exec(html)?.[1];

/** What each door of a tablo answers someone: page, fragments, POSTs and the stream. */
async function doors(person: Person, tabloId: number, otherUserId: number): Promise<Record<string, number>> {
  const c = person.client;
  const hx = htmx(person);
  const answers: Record<string, number> = {
    page: (await c.get(`/tablos/${tabloId}`)).status,
    'discussion page': (await c.get(`/tablos/${tabloId}/discussion`)).status,
    'members fragment': (await c.get(`/tablos/${tabloId}/members`, { 'HX-Request': 'true' })).status,
    'older messages fragment': (await c.get(`/tablos/${tabloId}/discussion/messages?before=100`, { 'HX-Request': 'true' })).status,
    'post (htmx)': (await postMessage(person, tabloId, 'let me in', { htmx: true })).status,
    'post (form)': (await postMessage(person, tabloId, 'let me in', { htmx: false })).status,
    'add member': (await c.post(`/tablos/${tabloId}/members`, { email: person.email }, hx)).status,
    'remove member': (await c.post(`/tablos/${tabloId}/members/${otherUserId}/remove`)).status,
    leave: (await c.post(`/tablos/${tabloId}/leave`)).status,
    rename: (await c.post(`/tablos/${tabloId}/rename`, { title: 'Mine now' })).status,
    delete: (await c.post(`/tablos/${tabloId}/delete`, { confirm: 'yes' })).status,
  };
  const s = await openStream(c, tabloId);
  answers.stream = s.status;
  s.close();
  return answers;
}
const every = (status: number, answers: Record<string, number>) => Object.fromEntries(Object.keys(answers).map((k) => [k, status]));

describe('adding a member (by invitation)', () => {
  it('the owner invites someone by email, they accept: listed in #members, and the tablo is theirs to see', async () => {
    const bob = await fresh('Bob');
    const tablo = await createTablo(ada, 'Adding');
    assert.equal((await bob.client.get(`/tablos/${tablo}`)).status, 404, 'not a member yet');

    await ada.client.get(`/tablos/${tablo}`);
    const invitation = await inviteOk(ada, tablo, bob.email);
    assert.equal((await bob.client.get(`/tablos/${tablo}`)).status, 404, 'invited is not a member');
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id], 'nobody becomes a member without accepting');
    await acceptOk(bob, invitation, tablo);

    const page = await ada.client.get(`/tablos/${tablo}`);
    assert.deepEqual([...pendingInvitations(page.html).keys()], [], 'no longer pending');
    assert.deepEqual(listedMembers(page.html), [ada.id, bob.id], 'the owner first, then the new member');
    // The owner manages: the add form, and a remove form for the member but none for herself.
    assert.match(page.html, /<form id="add-member"[^>]*action="\/tablos\/\d+\/members"/);
    assert.match(page.html, new RegExp(`action="/tablos/${tablo}/members/${bob.id}/remove"`));
    assert.doesNotMatch(page.html, new RegExp(`action="/tablos/${tablo}/members/${ada.id}/remove"`));

    const bobsPage = await bob.client.get(`/tablos/${tablo}`);
    assert.equal(bobsPage.status, 200);
    assert.deepEqual(listedMembers(bobsPage.html), [ada.id, bob.id]);
    // A member sees the members but manages nothing; they may leave.
    assert.doesNotMatch(bobsPage.html, /id="add-member"|class="remove-member"|id="rename-tablo"|id="delete-tablo"/);
    assert.match(bobsPage.html, new RegExp(`<form id="leave-tablo"[^>]*action="/tablos/${tablo}/leave"`));
    assert.equal((await bob.client.get(`/tablos/${tablo}/discussion`)).status, 200);
    assert.ok((await listedTablos(bob)).includes(tablo));
  });

  it('finds the account whatever the email’s case and surrounding spaces', async () => {
    const bob = await fresh('Bob');
    const tablo = await createTablo(ada, 'Case');
    await ada.client.get(`/tablos/${tablo}`);
    const invitation = await inviteOk(ada, tablo, `  ${bob.email.toUpperCase()} `);
    await acceptOk(bob, invitation, tablo);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id]);
  });

  it('answers htmx with the updated #member-section fragment alone, the invitation pending in it', async () => {
    const bob = await fresh('Bob');
    const tablo = await createTablo(ada, 'Fragment');
    await ada.client.get(`/tablos/${tablo}`);
    const response = await addByEmail(ada, tablo, bob.email, { htmx: true });
    assert.equal(response.status, 200);
    assert.match(response.html, /^<div id="member-section"/);
    assert.doesNotMatch(response.html, /<html|<body/);
    assert.deepEqual(listedMembers(response.html), [ada.id]);
    assert.deepEqual([...pendingInvitations(response.html).keys()], [bob.email]);
  });

  it('tells the people of the tablo (and the added person) that its members changed', async () => {
    const [bob, cat] = [await fresh('Bob'), await fresh('Cat')];
    const tablo = await tabloWith(ada, 'Announce', bob);
    const [bobsEvents, catsEvents] = [await events(bob), await events(cat)];
    await addOk(ada, tablo, cat);
    await bobsEvents.waitFor((s) => eventsAbout(s, 'members', tablo).length === 1, 10_000, 'a members event for Bob');
    await catsEvents.waitFor((s) => eventsAbout(s, 'members', tablo).length === 1, 10_000, 'a members event for Cat, now a member');
  });

  const refused: Array<[string, (bob: Person) => string, RegExp]> = [
    ['a malformed email', () => 'not an email', /valid email/i],
    ['an email already invited', () => INVITED, /already invited/i],
    ['the email of someone already a member', (bob) => bob.email, /already/i],
    ['the owner’s own email', () => ada.email, /already/i],
    ['an empty email', () => '', /email/i],
    ['a blank email', () => '   ', /email/i],
  ];
  for (const [what, email, reason] of refused) {
    it(`answers 422 with the form and a readable reason for ${what}; nothing changes`, async () => {
      const bob = await fresh('Bob');
      const tablo = await tabloWith(ada, 'Refusals', bob);
      await inviteOk(ada, tablo, INVITED);
      const typed = email(bob);

      const response = await addByEmail(ada, tablo, typed);
      assert.equal(response.status, 422);
      assert.match(response.html, /<form id="add-member"/, 'the form is shown again');
      assert.match(addMemberError(response.html) ?? '', reason);
      assert.equal(response.html.split(addMemberError(response.html)!).length - 1, 1, 'the reason is said once, by the field');
      if (typed.trim()) assert.ok(response.html.includes(`value="${typed}"`), 'the typed email is kept');

      const fragment = await addByEmail(ada, tablo, typed, { htmx: true });
      assert.equal(fragment.status, 422);
      assert.match(fragment.html, /^<div id="member-section"/, 'htmx gets the member section with the reason');
      assert.match(addMemberError(fragment.html) ?? '', reason);

      assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id]);
      const page = await ada.client.get(`/tablos/${tablo}`);
      assert.deepEqual([...pendingInvitations(page.html).keys()], [INVITED], 'no invitation made');
    });
  }

  it('without the CSRF token answers 403 and invites no one', async () => {
    const bob = await fresh('Bob');
    const tablo = await createTablo(ada, 'Forged');
    const response = await ada.client.post(`/tablos/${tablo}/members`, { email: bob.email, _csrf: 'forged' });
    assert.equal(response.status, 403);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id]);
    assert.deepEqual(await invitationsOnHome(bob), []);
  });

  it('is the owner’s alone: a member gets 403, a stranger 404, and no one is added', async () => {
    const [bob, cat, dan] = [await fresh('Bob'), await fresh('Cat'), await fresh('Dan')];
    const tablo = await tabloWith(ada, 'Owner adds', bob);
    await bob.client.get(`/tablos/${tablo}`);
    assert.equal((await addByEmail(bob, tablo, cat.email)).status, 403);
    assert.equal((await addByEmail(bob, tablo, cat.email, { htmx: true })).status, 403);
    assert.equal((await addByEmail(dan, tablo, dan.email)).status, 404);
    assert.equal((await addByEmail(dan, tablo, cat.email, { htmx: true })).status, 404);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id]);
    assert.equal((await cat.client.get(`/tablos/${tablo}`)).status, 404);
    assert.equal((await dan.client.get(`/tablos/${tablo}`)).status, 404);
    assert.deepEqual(await invitationsOnHome(cat), [], 'no invitation either');
    assert.deepEqual(await invitationsOnHome(dan), []);
  });
});

describe('removing a member', () => {
  it('the owner removes a member: 303, gone from the list, and every door of the tablo answers them 404', async () => {
    const bob = await fresh('Bob');
    const tablo = await tabloWith(ada, 'Removal doors', bob);
    await postOk(ada, tablo, 'posted while Bob was in');
    // While a member, the doors open (a control for the 404s below); owner-only actions are 403.
    await bob.client.get(`/tablos/${tablo}`);
    assert.equal((await bob.client.get(`/tablos/${tablo}`)).status, 200);
    assert.equal((await bob.client.get(`/tablos/${tablo}/discussion`)).status, 200);
    assert.equal((await bob.client.get(`/tablos/${tablo}/members`, { 'HX-Request': 'true' })).status, 200);
    const open = await openStream(bob.client, tablo);
    assert.equal(open.status, 200);
    open.close();
    assert.equal((await bob.client.post(`/tablos/${tablo}/rename`, { title: 'Mine now' })).status, 403);

    await ada.client.get(`/tablos/${tablo}`);
    const response = await removeMember(ada, tablo, bob.id);
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), `/tablos/${tablo}`);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id]);

    await bob.client.get('/tablos');
    const answers = await doors(bob, tablo, ada.id);
    assert.deepEqual(answers, every(404, answers));
    assert.ok(!(await listedTablos(bob)).includes(tablo));
    const home = await bob.client.get('/tablos');
    assert.doesNotMatch(home.html, /posted while Bob was in|let me in|Removal doors/);
    // Nothing Bob tried after (or before) his removal was stored; the tablo is as it was.
    assert.equal(await storedCount(app.db, tablo), 1);
    assert.equal(await titleOf(ada, tablo), 'Removal doors');
  });

  it('answers htmx with the updated #member-section fragment', async () => {
    const [bob, cat] = [await fresh('Bob'), await fresh('Cat')];
    const tablo = await tabloWith(ada, 'Remove by htmx', bob, cat);
    await ada.client.get(`/tablos/${tablo}`);
    const response = await removeMember(ada, tablo, bob.id, htmx(ada));
    assert.equal(response.status, 200);
    assert.match(response.html, /^<div id="member-section"/);
    assert.doesNotMatch(response.html, /<html|<body/);
    assert.deepEqual(new Set(listedMembers(response.html)), new Set([ada.id, cat.id]));
  });

  it('ends the removed member’s discussion streams — every tab, every session — with access-ended, and nothing follows', async () => {
    const bob = await fresh('Bob');
    const bobElsewhere = await secondSession(app.url, bob);
    const tablo = await tabloWith(ada, 'Cut off', bob);
    const other = await tabloWith(ada, 'Bob stays here', bob);

    const adasStream = await discussion(ada, tablo);
    const bobsTabs = [await discussion(bob, tablo), await discussion(bob, tablo), await discussion(bobElsewhere, tablo)];
    const bobsOtherStream = await discussion(bob, other);
    const bobsEvents = await events(bob);
    for (const s of [adasStream, ...bobsTabs, bobsOtherStream]) assert.equal(s.status, 200);
    await adasStream.waitFor((s) => (latestPresence(s) ?? []).includes(bob.id), 10_000, 'Bob to be present');

    await postOk(ada, tablo, 'one');
    await postOk(ada, tablo, 'two');
    for (const s of bobsTabs) await s.waitForId(2);
    await bobsEvents.waitFor((s) => eventsAbout(s, 'activity', tablo).length === 2, 10_000, 'activity while a member');
    const eventsBeforeRemoval = bobsEvents.events.length;

    await ada.client.get(`/tablos/${tablo}`);
    assert.equal((await removeMember(ada, tablo, bob.id)).status, 303);

    for (const s of bobsTabs) {
      assert.equal(await ended(s), 'ended', `the server ended the stream; ${s.describe()}`);
      assert.equal(s.events.at(-1)?.type, 'access-ended', `the last event says why; ${s.describe()}`);
      assert.deepEqual(s.messageIds, [1, 2]);
    }
    const endedWith = bobsTabs.map((s) => s.events.length);

    // Ada keeps talking; she sees Bob leave the room, and her messages.
    await adasStream.waitFor((s) => latestPresence(s)?.join() === String(ada.id), 10_000, 'presence without Bob');
    await postOk(ada, tablo, 'three');
    await postOk(ada, tablo, 'four');
    await adasStream.waitForId(4);
    // A sentinel on Bob's own streams: anything about the first tablo would have come before it.
    await postOk(ada, other, 'still here, Bob');
    await bobsOtherStream.waitForId(1);
    await bobsEvents.waitFor((s) => eventsAbout(s, 'activity', other).length === 1, 10_000, 'activity of the other tablo');

    assert.deepEqual(bobsTabs.map((s) => s.events.length), endedWith, 'nothing after access-ended');
    const afterRemoval = bobsEvents.events.slice(eventsBeforeRemoval);
    // (A `read` event may trail: it only tells Bob's pages that he had read, while a member, what
    // he was shown. It carries nothing else.)
    const aboutIt = afterRemoval.filter((e) => mentionsTablo(e, tablo) && e.type !== 'read');
    assert.deepEqual(aboutIt.map((e) => e.type), ['members'], 'one last members event for the tablo, and nothing else about it');
    assert.equal(about(aboutIt[0]!)?.tablo, tablo);
    assert.equal(bobsEvents.endedAs, undefined, 'his own stream stays');
    assert.equal(bobsOtherStream.endedAs, undefined, 'his other discussion stays');
    assert.equal(adasStream.endedAs, undefined, 'the owner’s discussion stays');
    assert.ok(!adasStream.events.some((e) => e.type === 'access-ended'));

    // Reconnecting, as the browser would with its last id, is refused.
    for (const client of [bob.client, bobElsewhere.client]) {
      const again = await openStream(client, tablo, { lastEventId: 2 });
      assert.equal(again.status, 404);
      again.close();
    }
  });

  it('the owner cannot be removed: 422 with a reason, and she is still the owner', async () => {
    const bob = await fresh('Bob');
    const tablo = await tabloWith(ada, 'Keep the owner', bob);
    await ada.client.get(`/tablos/${tablo}`);
    const response = await removeMember(ada, tablo, ada.id);
    assert.equal(response.status, 422);
    assert.match(alert(response.html) ?? '', /owner/i);
    // htmx swaps the answer into #member-section: it gets that section, with the reason.
    const fragment = await removeMember(ada, tablo, ada.id, htmx(ada));
    assert.equal(fragment.status, 422);
    assert.match(fragment.html, /^<div id="member-section"/);
    assert.doesNotMatch(fragment.html, /<html|<body/);
    assert.match(alert(fragment.html) ?? '', /owner/i);
    assert.deepEqual(listedMembers(fragment.html), [ada.id, bob.id]);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id]);
    // Still hers to manage.
    assert.equal((await ada.client.post(`/tablos/${tablo}/rename`, { title: 'Still mine' })).status, 303);
    assert.equal(await titleOf(bob, tablo), 'Still mine');
  });

  it('is the owner’s alone: a member gets 403 (for another member or the owner), and nothing changes', async () => {
    const [bob, cat] = [await fresh('Bob'), await fresh('Cat')];
    const tablo = await tabloWith(ada, 'Members do not remove', bob, cat);
    const catsStream = await discussion(cat, tablo);
    await bob.client.get(`/tablos/${tablo}`);
    assert.equal((await removeMember(bob, tablo, cat.id)).status, 403);
    assert.equal((await removeMember(bob, tablo, cat.id, htmx(bob))).status, 403);
    assert.equal((await removeMember(bob, tablo, ada.id)).status, 403);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id, cat.id]);
    // Cat's stream was not closed: it still carries messages.
    await postOk(ada, tablo, 'still with us, Cat');
    await catsStream.waitForId(1);
    assert.ok(!catsStream.events.some((e) => e.type === 'access-ended'));
  });

  it('a stranger gets 404 and nobody is removed', async () => {
    const [bob, dan] = [await fresh('Bob'), await fresh('Dan')];
    const tablo = await tabloWith(ada, 'Strangers do not remove', bob);
    assert.equal((await removeMember(dan, tablo, bob.id)).status, 404);
    assert.equal((await removeMember(dan, tablo, ada.id)).status, 404);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id]);
  });

  it('removing someone who is not a member, or a malformed user id, is 404', async () => {
    const [bob, dan] = [await fresh('Bob'), await fresh('Dan')];
    const tablo = await tabloWith(ada, 'No such member', bob);
    await ada.client.get(`/tablos/${tablo}`);
    for (const userId of [String(dan.id), '0', 'abc', '99999999']) {
      const response = await ada.client.post(`/tablos/${tablo}/members/${userId}/remove`);
      assert.equal(response.status, 404, `user id ${userId}`);
    }
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id]);
  });
});

describe('leaving', () => {
  it('a member leaves: 303 to /tablos, their discussion ends with access-ended, the owner is told, and the tablo is 404 to them', async () => {
    const bob = await fresh('Bob');
    const tablo = await tabloWith(ada, 'Leaving', bob);
    const bobsStream = await discussion(bob, tablo);
    const adasEvents = await events(ada);

    await bob.client.get(`/tablos/${tablo}`);
    const response = await bob.client.post(`/tablos/${tablo}/leave`);
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/tablos');

    assert.equal(await ended(bobsStream), 'ended');
    assert.equal(bobsStream.events.at(-1)?.type, 'access-ended');
    await adasEvents.waitFor((s) => eventsAbout(s, 'members', tablo).length === 1, 10_000, 'the owner to hear of it');
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id]);
    const answers = await doors(bob, tablo, ada.id);
    assert.deepEqual(answers, every(404, answers));
    assert.ok(!(await listedTablos(bob)).includes(tablo));
  });

  it('the owner cannot leave: 422 with a reason, and she is still the owner', async () => {
    const bob = await fresh('Bob');
    const tablo = await tabloWith(ada, 'Owner stays', bob);
    await ada.client.get(`/tablos/${tablo}`);
    const response = await ada.client.post(`/tablos/${tablo}/leave`);
    assert.equal(response.status, 422);
    assert.match(alert(response.html) ?? '', /owner/i);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id]);
    assert.ok((await listedTablos(ada)).includes(tablo));
  });

  it('a stranger cannot leave what they are not in: 404', async () => {
    const dan = await fresh('Dan');
    const tablo = await createTablo(ada, 'Not Dan’s');
    assert.equal((await dan.client.post(`/tablos/${tablo}/leave`)).status, 404);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id]);
  });
});

describe('renaming', () => {
  it('the owner renames: 303, the new title everywhere, and members’ streams hear of it', async () => {
    const bob = await fresh('Bob');
    const tablo = await tabloWith(ada, 'Old name', bob);
    const bobsEvents = await events(bob);
    const bobsStream = await discussion(bob, tablo);

    await ada.client.get(`/tablos/${tablo}`);
    const response = await ada.client.post(`/tablos/${tablo}/rename`, { title: '  New name  ' });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), `/tablos/${tablo}`);
    assert.equal(await titleOf(ada, tablo), 'New name');
    assert.equal(await titleOf(bob, tablo), 'New name');
    assert.match((await bob.client.get('/tablos')).html, /New name/);

    const renamed = (s: SseStream) => s.events.some((e) => e.type === 'tablo' && about(e)?.tablo === tablo && about(e)?.change === 'renamed');
    await bobsEvents.waitFor(renamed, 10_000, 'tablo renamed on /events');
    await bobsStream.waitFor(renamed, 10_000, 'tablo renamed on the discussion stream');
  });

  for (const [what, title] of [['an empty title', ''], ['a blank title', '   '], ['a title of 121 characters', 'x'.repeat(121)]]) {
    it(`refuses ${what} with 422 and keeps the old one`, async () => {
      const tablo = await createTablo(ada, 'Keep me');
      await ada.client.get(`/tablos/${tablo}`);
      const response = await ada.client.post(`/tablos/${tablo}/rename`, { title: title! });
      assert.equal(response.status, 422);
      assert.match(response.html, /<form id="rename-tablo"/);
      assert.match(response.html, /id="rename-error"[^>]*>[^<]*title/i);
      assert.equal(await titleOf(ada, tablo), 'Keep me');
    });
  }

  it('is the owner’s alone: a member gets 403, a stranger 404, and the title stays', async () => {
    const [bob, dan] = [await fresh('Bob'), await fresh('Dan')];
    const tablo = await tabloWith(ada, 'Ada names it', bob);
    const dansEvents = await events(dan);
    await bob.client.get(`/tablos/${tablo}`);
    assert.equal((await bob.client.post(`/tablos/${tablo}/rename`, { title: 'Bob names it' })).status, 403);
    assert.equal((await dan.client.post(`/tablos/${tablo}/rename`, { title: 'Dan names it' })).status, 404);
    assert.equal(await titleOf(ada, tablo), 'Ada names it');
    assert.doesNotMatch((await bob.client.get('/tablos')).html, /Bob names it|Dan names it/);
    assert.ok(!dansEvents.events.some((e) => mentionsTablo(e, tablo)));
  });
});

describe('deleting', () => {
  it('asks first: without confirm=yes the answer is the question, and nothing is deleted', async () => {
    const bob = await fresh('Bob');
    const tablo = await tabloWith(ada, 'Think twice', bob);
    await postOk(ada, tablo, 'keep this');
    const bobsStream = await discussion(bob, tablo, 0);
    await bobsStream.waitForId(1);

    await ada.client.get(`/tablos/${tablo}`);
    for (const fields of [{}, { confirm: 'no' }, { confirm: 'YES please' }] as Record<string, string>[]) {
      const response = await ada.client.post(`/tablos/${tablo}/delete`, fields);
      assert.equal(response.status, 200, JSON.stringify(fields));
      const form = elementById(response.html, 'confirm-delete');
      assert.ok(form, 'form#confirm-delete');
      assert.equal(form.attrs.action, `/tablos/${tablo}/delete`);
      assert.match(form.inner, /<input type="hidden" name="confirm" value="yes">/);
      assert.match(form.inner, /name="_csrf"/);
    }
    assert.equal(await titleOf(ada, tablo), 'Think twice');
    assert.equal(await storedCount(app.db, tablo), 1);
    // The stream was not touched: a new message still arrives.
    await postOk(ada, tablo, 'still here');
    await bobsStream.waitForId(2);
    assert.equal(bobsStream.endedAs, undefined);
  });

  it('with confirm=yes deletes it, ends everyone’s discussion streams with access-ended, and tells members', async () => {
    const [bob, cat] = [await fresh('Bob'), await fresh('Cat')];
    const tablo = await tabloWith(ada, 'Doomed', bob, cat);
    const survivor = await tabloWith(ada, 'Survivor', bob);
    await postOk(bob, tablo, 'last words');
    const doomedStreams = [await discussion(ada, tablo), await discussion(bob, tablo), await discussion(bob, tablo), await discussion(cat, tablo)];
    const survivorStream = await discussion(bob, survivor);
    const [bobsEvents, catsEvents] = [await events(bob), await events(cat)];

    await ada.client.get(`/tablos/${tablo}`);
    const response = await ada.client.post(`/tablos/${tablo}/delete`, { confirm: 'yes' });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/tablos');

    for (const s of doomedStreams) {
      assert.equal(await ended(s), 'ended', s.describe());
      assert.equal(s.events.at(-1)?.type, 'access-ended', s.describe());
    }
    const deleted = (s: SseStream) => s.events.some((e) => e.type === 'tablo' && about(e)?.tablo === tablo && about(e)?.change === 'deleted');
    await bobsEvents.waitFor(deleted, 10_000, 'Bob to hear of the deletion');
    await catsEvents.waitFor(deleted, 10_000, 'Cat to hear of the deletion');

    for (const person of [ada, bob, cat]) {
      const answers = await doors(person, tablo, bob.id);
      assert.deepEqual(answers, every(404, answers), person.name);
      assert.ok(!(await listedTablos(person)).includes(tablo), person.name);
    }
    assert.equal(await storedCount(app.db, tablo), 0);
    // Another tablo of the same people is untouched.
    await postOk(ada, survivor, 'carry on');
    await survivorStream.waitForId(1);
    assert.equal(survivorStream.endedAs, undefined);
  });

  it('is the owner’s alone: a member gets 403, a stranger 404, and the tablo stays', async () => {
    const [bob, dan] = [await fresh('Bob'), await fresh('Dan')];
    const tablo = await tabloWith(ada, 'Not yours to delete', bob);
    await postOk(ada, tablo, 'precious');
    await bob.client.get(`/tablos/${tablo}`);
    assert.equal((await bob.client.post(`/tablos/${tablo}/delete`, { confirm: 'yes' })).status, 403);
    assert.equal((await bob.client.post(`/tablos/${tablo}/delete`)).status, 403, 'not even the question');
    assert.equal((await dan.client.post(`/tablos/${tablo}/delete`, { confirm: 'yes' })).status, 404);
    assert.equal((await dan.client.post(`/tablos/${tablo}/delete`)).status, 404);
    assert.equal(await titleOf(ada, tablo), 'Not yours to delete');
    assert.equal(await storedCount(app.db, tablo), 1);
    assert.deepEqual(await membersOnPage(bob, tablo), [ada.id, bob.id]);
  });
});

describe('a tablo one is not in', () => {
  it('every door answers 404, as for a tablo that does not exist', async () => {
    const [bob, dan] = [await fresh('Bob'), await fresh('Dan')];
    const tablo = await tabloWith(ada, 'Private', bob);
    const answers = await doors(dan, tablo, bob.id);
    assert.deepEqual(answers, every(404, answers));
    const missing = await doors(dan, 99_999_999, bob.id);
    assert.deepEqual(missing, answers, 'the same answers as for no tablo at all');
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id]);
    assert.equal(await storedCount(app.db, tablo), 0);
  });

  it('no stream of a non-member carries anything about it: messages, activity, presence, renames, members', async () => {
    const [bob, dan] = [await fresh('Bob'), await fresh('Dan')];
    const tablo = await tabloWith(ada, 'Secret plans', bob);
    const dans = await createTablo(dan, 'Dan’s own');
    // Dan listens on every stream he may open: his own, and his own tablo's discussion.
    const dansEvents = await events(dan);
    const dansStream = await discussion(dan, dans);
    const refused = await openStream(dan.client, tablo);
    assert.equal(refused.status, 404);
    refused.close();
    // Bob, a member, witnesses what is sent.
    const bobsEvents = await events(bob);

    // Everything that makes events about the tablo: someone opening its discussion, a message,
    // a rename, members coming and going.
    const adasStream = await discussion(ada, tablo);
    await postOk(ada, tablo, 'the secret is 42');
    await ada.client.get(`/tablos/${tablo}`);
    assert.equal((await ada.client.post(`/tablos/${tablo}/rename`, { title: 'Renamed secret' })).status, 303);
    const eve = await fresh('Eve');
    await addOk(ada, tablo, eve);
    assert.equal((await removeMember(ada, tablo, eve.id)).status, 303);

    await bobsEvents.waitFor(
      (s) =>
        eventsAbout(s, 'activity', tablo).length === 1 &&
        eventsAbout(s, 'online', tablo).length >= 1 &&
        eventsAbout(s, 'tablo', tablo).length === 1 &&
        eventsAbout(s, 'members', tablo).length === 2,
      10_000,
      'the member to hear of everything',
    );
    assert.deepEqual(about(eventsAbout(bobsEvents, 'activity', tablo)[0]!), { tablo, seq: 1 });

    // A sentinel on Dan's streams: anything sent to him before it has arrived.
    await postOk(dan, dans, 'Dan talks to himself');
    await dansStream.waitForId(1);
    await dansEvents.waitFor((s) => eventsAbout(s, 'activity', dans).length === 1, 10_000, 'Dan’s own activity');

    for (const s of [dansEvents, dansStream]) {
      const leaks = s.events.filter(
        (e) => mentionsTablo(e, tablo) || /secret|Secret plans|Renamed/.test(e.data) || e.data.includes(`data-user-id="${ada.id}"`),
      );
      assert.deepEqual(leaks, [], `nothing about the tablo; ${s.describe()}`);
    }
    // Nor does his home: figures and latest messages are his own tablos'.
    const home = await dan.client.get('/tablos');
    assert.doesNotMatch(home.html, /secret|Secret plans|Renamed secret/);
    assert.equal(elementById(home.html, 'figure-tablos')?.inner, '1');
    assert.equal(elementById(home.html, 'figure-messages-today')?.inner, '1');
  });
});

describe('named events about one’s tablos', () => {
  it('a discussion stream carries the activity of one’s other tablos but not its own; /events carries both', async () => {
    const bob = await fresh('Bob');
    const here = await tabloWith(ada, 'Open here', bob);
    const there = await tabloWith(ada, 'Elsewhere', bob);
    const bobsStream = await discussion(bob, here);
    const bobsEvents = await events(bob);

    const posted = await postOk(ada, here, 'in the open discussion');
    await bobsStream.waitForId(posted.seq);
    await bobsEvents.waitFor((s) => eventsAbout(s, 'activity', here).length === 1, 10_000, 'activity of the open tablo on /events');
    // Anything sent to Bob's streams about `here` went out with the event above, before this post.
    await postOk(ada, there, 'in the other one');
    await bobsStream.waitFor((s) => eventsAbout(s, 'activity', there).length === 1, 10_000, 'activity of the other tablo');
    await bobsEvents.waitFor((s) => eventsAbout(s, 'activity', there).length === 1, 10_000, 'activity of the other tablo on /events');

    assert.deepEqual(eventsAbout(bobsStream, 'activity', here), [], 'no activity for the discussion one is reading');
    assert.deepEqual(about(eventsAbout(bobsEvents, 'activity', here)[0]!), { tablo: here, seq: posted.seq });
    assert.deepEqual(about(eventsAbout(bobsStream, 'activity', there)[0]!), { tablo: there, seq: 1 });
    // Named events carry no id: they must not move the stream's resume point.
    for (const e of bobsStream.events.filter((x) => x.type !== 'message')) assert.equal(e.id, undefined, e.type);
    assert.equal(bobsStream.lastEventId, String(posted.seq));
  });
});
