import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import { attributes, elementById, eventually } from './support/discussion.ts';
import {
  about,
  acceptOk,
  addByEmail,
  eventsAbout,
  htmx,
  invitationsOnHome,
  inviteOk,
  listedMembers,
  listedTablos,
  membersOnPage,
  openEvents,
  pendingInvitations,
  Streams,
  tabloWith,
} from './support/members.ts';

let app: TestApp;
let ada: Person;
before(async () => {
  app = await startTestApp();
  ada = await registerPerson(app.url, 'Ada');
});
after(() => app.close());

const streams = new Streams();
afterEach(async () => {
  streams.closeAll();
  await eventually(async () => app.live.openStreams === 0, 10_000, 'every stream to be closed');
});

const PASSWORD = 'correct horse battery';
let counter = 0;
const fresh = (name: string) => registerPerson(app.url, name);
const unknownEmail = () => `nobody.${process.pid}.${++counter}.${Date.now()}@example.test`;

/** The `li#invitation-{id}` of a person's /tablos, as HTML. */
async function invitationItem(person: Person, invitationId: number): Promise<string | undefined> {
  const page = await person.client.get('/tablos');
  return elementById(page.html, `invitation-${invitationId}`)?.inner;
}

/** The join link in `#invite-link` (its `value`, or its text), if the HTML has one. */
function inviteLinkIn(html: string): string | undefined {
  const start = /<(\w+)\b[^>]*\sid="invite-link"[^>]*>/.exec(html);
  if (!start) return undefined;
  return attributes(start[0]).value ?? elementById(html, 'invite-link')?.inner.trim();
}

/** The join link the owner's tablo page shows. */
async function joinLinkOnPage(owner: Person, tabloId: number): Promise<string | undefined> {
  return inviteLinkIn((await owner.client.get(`/tablos/${tabloId}`)).html);
}

async function makeJoinLink(owner: Person, tabloId: number): Promise<string> {
  await owner.client.get(`/tablos/${tabloId}`);
  const response = await owner.client.post(`/tablos/${tabloId}/invite-link`);
  assert.equal(response.status, 303);
  assert.equal(response.headers.get('location'), `/tablos/${tabloId}`);
  const link = await joinLinkOnPage(owner, tabloId);
  assert.ok(link, '#invite-link on the tablo page');
  return link;
}

const tokenOf = (link: string) => new URL(link).pathname.replace(/^\/join\//, '');

describe('inviting by email', () => {
  it('answers the owner the same whether or not an account has the email (status, location, fragment)', async () => {
    const bob = await fresh('Bob');
    const stranger = unknownEmail();
    // Two tablos alike, so that only the email (and the ids) can differ.
    const [known, unknown] = [await createTablo(ada, 'Alike'), await createTablo(ada, 'Alike')];
    await ada.client.get(`/tablos/${known}`);
    const plain = [await addByEmail(ada, known, bob.email), await addByEmail(ada, unknown, stranger)];
    assert.deepEqual(plain.map((r) => r.status), [303, 303]);
    assert.deepEqual(plain.map((r) => r.headers.get('location')), [`/tablos/${known}`, `/tablos/${unknown}`]);
    assert.equal(plain[0]!.html.replace(String(known), 'N'), plain[1]!.html.replace(String(unknown), 'N'));

    // With htmx: the member section, alike apart from the email echoed and the ids.
    const [again, againUnknown] = [await createTablo(ada, 'Alike'), await createTablo(ada, 'Alike')];
    await ada.client.get(`/tablos/${again}`);
    const fragments = [await addByEmail(ada, again, bob.email, { htmx: true }), await addByEmail(ada, againUnknown, stranger, { htmx: true })];
    assert.deepEqual(fragments.map((r) => r.status), [200, 200]);
    const normalized = (html: string, tabloId: number, email: string) =>
      html
        .replaceAll(email, 'EMAIL')
        .replaceAll(`/tablos/${tabloId}/`, '/tablos/N/')
        .replace(/invitation-\d+|invitations\/\d+/g, (m) => m.replace(/\d+/, 'I'));
    assert.equal(normalized(fragments[0]!.html, again, bob.email), normalized(fragments[1]!.html, againUnknown, stranger));
    assert.ok(fragments[0]!.html.includes(bob.email), 'the email is echoed');
    assert.doesNotMatch(fragments[0]!.html, /Bob/, 'nothing says who has that email');
    assert.deepEqual(listedMembers(fragments[0]!.html), [ada.id]);
  });

  it('the invited person sees it on /tablos, accepts, and is a member who can open the discussion', async () => {
    const bob = await fresh('Bob');
    const tablo = await createTablo(ada, 'Book club');
    const invitation = await inviteOk(ada, tablo, bob.email);
    assert.equal((await bob.client.get(`/tablos/${tablo}/discussion`)).status, 404, 'invited is not a member');

    const item = await invitationItem(bob, invitation);
    assert.ok(item, `li#invitation-${invitation}`);
    assert.match(item, /Book club/, 'the tablo’s title');
    assert.match(item, /Ada/, 'who invited');
    assert.match(item, new RegExp(`<form[^>]*action="/invitations/${invitation}/accept"`));
    assert.match(item, new RegExp(`<form[^>]*action="/invitations/${invitation}/decline"`));
    assert.ok(!(await listedTablos(bob)).includes(tablo), 'not among his tablos yet');

    await acceptOk(bob, invitation, tablo);
    assert.equal((await bob.client.get(`/tablos/${tablo}/discussion`)).status, 200);
    assert.ok((await listedTablos(bob)).includes(tablo));
    assert.deepEqual(await invitationsOnHome(bob), [], 'the invitation is gone');
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id]);
    assert.deepEqual([...pendingInvitations((await ada.client.get(`/tablos/${tablo}`)).html).keys()], []);
    // Accepting again: nothing left to accept.
    assert.equal((await bob.client.post(`/invitations/${invitation}/accept`)).status, 404);
  });

  it('declining: 303 to /tablos, not a member, the invitation gone for both; it may be made again', async () => {
    const bob = await fresh('Bob');
    const tablo = await createTablo(ada, 'Not for Bob');
    const invitation = await inviteOk(ada, tablo, bob.email);
    await bob.client.get('/tablos');
    const response = await bob.client.post(`/invitations/${invitation}/decline`);
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/tablos');
    assert.deepEqual(await invitationsOnHome(bob), []);
    assert.equal((await bob.client.get(`/tablos/${tablo}`)).status, 404);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id]);
    assert.deepEqual([...pendingInvitations((await ada.client.get(`/tablos/${tablo}`)).html).keys()], []);
    assert.equal((await bob.client.post(`/invitations/${invitation}/accept`)).status, 404, 'a declined invitation cannot be accepted');
    await inviteOk(ada, tablo, bob.email);
  });

  it('the owner sees pending invitations with a cancel form; cancelling takes it back', async () => {
    const bob = await fresh('Bob');
    const stranger = unknownEmail();
    const tablo = await createTablo(ada, 'Second thoughts');
    const invitation = await inviteOk(ada, tablo, bob.email);
    await inviteOk(ada, tablo, stranger);
    const page = await ada.client.get(`/tablos/${tablo}`);
    const pending = elementById(page.html, 'invitations');
    assert.ok(pending, '#invitations');
    assert.equal([...pending.inner.matchAll(/<li\b/g)].length, 2);
    assert.match(pending.inner, new RegExp(`<form[^>]*action="/tablos/${tablo}/invitations/${invitation}/cancel"`));
    assert.doesNotMatch(elementById(page.html, 'members')!.inner, /@example\.test/, 'invitations are not members');

    const fragment = await ada.client.post(`/tablos/${tablo}/invitations/${invitation}/cancel`, {}, htmx(ada));
    assert.equal(fragment.status, 200);
    assert.match(fragment.html, /^<div id="member-section"/);
    assert.deepEqual([...pendingInvitations(fragment.html).keys()], [stranger]);
    assert.deepEqual(await invitationsOnHome(bob), []);
    await bob.client.get('/tablos');
    assert.equal((await bob.client.post(`/invitations/${invitation}/accept`)).status, 404);
    assert.equal((await bob.client.get(`/tablos/${tablo}`)).status, 404);

    const plain = await ada.client.post(`/tablos/${tablo}/invitations/${pendingInvitations(fragment.html).get(stranger)}/cancel`);
    assert.equal(plain.status, 303);
    assert.equal(plain.headers.get('location'), `/tablos/${tablo}`);
    assert.equal(elementById((await ada.client.get(`/tablos/${tablo}`)).html, 'invitations'), undefined, 'none pending');
    assert.equal((await ada.client.post(`/tablos/${tablo}/invitations/${invitation}/cancel`)).status, 404, 'already gone');
  });

  it('someone else’s invitation, or an unknown one, is 404 to accept or decline, and stays as it was', async () => {
    const [bob, cat] = [await fresh('Bob'), await fresh('Cat')];
    const tablo = await createTablo(ada, 'For Bob only');
    const invitation = await inviteOk(ada, tablo, bob.email);
    await cat.client.get('/tablos');
    for (const path of [`/invitations/${invitation}/accept`, `/invitations/${invitation}/decline`, '/invitations/99999999/accept', '/invitations/abc/accept', '/invitations/0/decline']) {
      assert.equal((await cat.client.post(path)).status, 404, path);
    }
    // The owner cannot accept on Bob's behalf either.
    assert.equal((await ada.client.post(`/invitations/${invitation}/accept`)).status, 404);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id]);
    assert.deepEqual(await invitationsOnHome(bob), [invitation]);
    // Signed out: sign in first.
    const anonymous = new Client(app.url);
    await anonymous.get('/login');
    assert.equal((await anonymous.post(`/invitations/${invitation}/accept`)).status, 303);
    assert.deepEqual(await invitationsOnHome(bob), [invitation]);
  });

  it('an email that registers later finds the invitation waiting on /tablos, and can accept it', async () => {
    const email = unknownEmail();
    const tablo = await createTablo(ada, 'Waiting room');
    const invitation = await inviteOk(ada, tablo, email.toUpperCase());
    const client = new Client(app.url);
    await client.get('/register');
    assert.equal((await client.post('/register', { email, name: 'Newcomer', password: PASSWORD })).status, 303);
    const page = await client.get('/tablos');
    const newcomer: Person = { client, id: Number(/<meta name="current-user-id" content="(\d+)"/.exec(page.html)?.[1]), email, name: 'Newcomer', password: PASSWORD };
    assert.match((await invitationItem(newcomer, invitation)) ?? '', /Waiting room/);
    await acceptOk(newcomer, invitation, tablo);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, newcomer.id]);
  });

  it('reaches the invited person’s open /events live (identifiers only); members are not told of it', async () => {
    const [bob, cat] = [await fresh('Bob'), await fresh('Cat')];
    const tablo = await tabloWith(ada, 'Live invitations', cat);
    const bobsEvents = await streams.add(openEvents(bob.client));
    const catsEvents = await streams.add(openEvents(cat.client));
    const adasEvents = await streams.add(openEvents(ada.client));

    const invitation = await inviteOk(ada, tablo, bob.email);
    await bobsEvents.waitFor((s) => eventsAbout(s, 'invitations', tablo).length === 1, 10_000, 'an invitations event for Bob');
    assert.deepEqual(about(eventsAbout(bobsEvents, 'invitations', tablo)[0]!), { tablo, change: 'invitations' });
    assert.doesNotMatch(bobsEvents.events.map((e) => e.data).join('\n'), /Live invitations|Ada|@/, 'identifiers only');
    // Accepting tells the tablo's people that its members changed, Bob among them now.
    await acceptOk(bob, invitation, tablo);
    for (const [s, who] of [[bobsEvents, 'Bob'], [catsEvents, 'Cat'], [adasEvents, 'Ada']] as const) {
      await s.waitFor((x) => eventsAbout(x, 'members', tablo).length === 1, 10_000, `a members event for ${who}`);
    }
    assert.deepEqual(eventsAbout(catsEvents, 'invitations', tablo), [], 'a member hears nothing of the invitation itself');

    // Taking an invitation back is live too.
    const dan = await fresh('Dan');
    const dansEvents = await streams.add(openEvents(dan.client));
    const second = await inviteOk(ada, tablo, dan.email);
    await dansEvents.waitFor((s) => eventsAbout(s, 'invitations', tablo).length === 1, 10_000, 'Dan’s invitation event');
    assert.equal((await ada.client.post(`/tablos/${tablo}/invitations/${second}/cancel`)).status, 303);
    await dansEvents.waitFor((s) => eventsAbout(s, 'invitations', tablo).length === 2, 10_000, 'Dan’s cancellation event');
  });
});

describe('who may manage invitations and join links', () => {
  it('a member gets 403 and a stranger 404 on every owner-only route; nothing changes', async () => {
    const [bob, cat, dan] = [await fresh('Bob'), await fresh('Cat'), await fresh('Dan')];
    const tablo = await tabloWith(ada, 'Owner’s doors', bob);
    const pending = await inviteOk(ada, tablo, cat.email);
    const link = await makeJoinLink(ada, tablo);
    const routes = (person: Person): Array<[string, Record<string, string>]> => [
      [`/tablos/${tablo}/members`, { email: dan.email }],
      [`/tablos/${tablo}/invitations/${pending}/cancel`, {}],
      [`/tablos/${tablo}/invite-link`, {}],
      [`/tablos/${tablo}/invite-link/revoke`, {}],
      [`/tablos/${tablo}/members`, { email: person.email }],
    ];
    await bob.client.get(`/tablos/${tablo}`);
    await dan.client.get('/tablos');
    for (const [path, fields] of routes(bob)) {
      assert.equal((await bob.client.post(path, fields)).status, 403, `member: ${path}`);
      assert.equal((await bob.client.post(path, fields, htmx(bob))).status, 403, `member (htmx): ${path}`);
    }
    for (const [path, fields] of routes(dan)) {
      assert.equal((await dan.client.post(path, fields)).status, 404, `stranger: ${path}`);
      assert.equal((await dan.client.post(path, fields, htmx(dan))).status, 404, `stranger (htmx): ${path}`);
    }
    // A member sees neither the pending invitations nor the join link.
    const bobsPage = await bob.client.get(`/tablos/${tablo}`);
    assert.equal(elementById(bobsPage.html, 'invitations'), undefined);
    assert.equal(inviteLinkIn(bobsPage.html), undefined);
    assert.ok(!bobsPage.html.includes(tokenOf(link)));
    assert.deepEqual([...pendingInvitations((await ada.client.get(`/tablos/${tablo}`)).html).keys()], [cat.email]);
    assert.equal(await joinLinkOnPage(ada, tablo), link, 'the link is the same');
    assert.deepEqual(await invitationsOnHome(dan), []);
  });

  it('without the CSRF token every invitation and join-link POST answers 403 and changes nothing', async () => {
    const [bob, cat] = [await fresh('Bob'), await fresh('Cat')];
    const tablo = await createTablo(ada, 'Forged');
    const invitation = await inviteOk(ada, tablo, bob.email);
    const link = await makeJoinLink(ada, tablo);
    const forged = { _csrf: 'forged' };
    assert.equal((await ada.client.post(`/tablos/${tablo}/invitations/${invitation}/cancel`, forged)).status, 403);
    assert.equal((await ada.client.post(`/tablos/${tablo}/invite-link`, forged)).status, 403);
    assert.equal((await ada.client.post(`/tablos/${tablo}/invite-link/revoke`, forged)).status, 403);
    assert.equal((await bob.client.post(`/invitations/${invitation}/accept`, forged)).status, 403);
    assert.equal((await bob.client.post(`/invitations/${invitation}/decline`, forged)).status, 403);
    await cat.client.get(new URL(link).pathname);
    assert.equal((await cat.client.post(new URL(link).pathname, forged)).status, 403);

    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id]);
    assert.deepEqual(await invitationsOnHome(bob), [invitation]);
    assert.equal(await joinLinkOnPage(ada, tablo), link);
  });
});

describe('join links', () => {
  it('the owner makes one: a full URL ending in /join/{token} (≥ 128 bits, base64url) in #invite-link', async () => {
    const tablo = await createTablo(ada, 'Linked');
    assert.equal(await joinLinkOnPage(ada, tablo), undefined, 'none until made');
    const link = await makeJoinLink(ada, tablo);
    assert.match(link, new RegExp(`^${app.url.replace(/[.]/g, '\\.')}/join/[A-Za-z0-9_-]+$`));
    assert.ok(tokenOf(link).length >= 22, `${tokenOf(link)}: at least 128 bits in base64url`);
    // htmx gets the member section with the link in it.
    const fragment = await ada.client.post(`/tablos/${tablo}/invite-link`, {}, htmx(ada));
    assert.equal(fragment.status, 200);
    assert.match(fragment.html, /^<div id="member-section"/);
    const replaced = inviteLinkIn(fragment.html);
    assert.ok(replaced && replaced !== link, 'a new link');
  });

  it('builds the origin from the request, through a trusted proxy only', async () => {
    const tablo = await createTablo(ada, 'Behind a proxy');
    await makeJoinLink(ada, tablo);
    const forwarded = { 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'chat.example.org' };
    const direct = await ada.client.get(`/tablos/${tablo}`, forwarded);
    assert.match(inviteLinkIn(direct.html) ?? '', new RegExp(`^${app.url.replace(/[.]/g, '\\.')}/join/`));

    const proxied = await startTestApp({ databaseUrl: app.databaseUrl, env: { TRUST_PROXY: 'true' } });
    try {
      const client = new Client(proxied.url);
      client.setCookie('tablo.sid', ada.client.cookie('tablo.sid')!);
      const page = await client.get(`/tablos/${tablo}`, forwarded);
      assert.equal(page.status, 200);
      assert.match(inviteLinkIn(page.html) ?? '', /^https:\/\/chat\.example\.org\/join\/[A-Za-z0-9_-]{22,}$/);
    } finally {
      await proxied.close();
    }
  });

  it('signed in: a page with form#join; joining makes a member and leads to the discussion (again: the same)', async () => {
    const [bob, cat] = [await fresh('Bob'), await fresh('Cat')];
    const tablo = await tabloWith(ada, 'Open door', cat);
    const path = new URL(await makeJoinLink(ada, tablo)).pathname;
    const catsEvents = await streams.add(openEvents(cat.client));

    const page = await bob.client.get(path);
    assert.equal(page.status, 200);
    const form = elementById(page.html, 'join');
    assert.ok(form, 'form#join');
    assert.equal(form.attrs.action, path);
    assert.equal(form.attrs.method, 'post');
    assert.match(form.inner, /name="_csrf"/);
    assert.match(form.inner, /type="submit"/);
    assert.equal((await bob.client.get(`/tablos/${tablo}`)).status, 404, 'seeing the join page joins nothing');

    const joined = await bob.client.post(path);
    assert.equal(joined.status, 303);
    assert.equal(joined.headers.get('location'), `/tablos/${tablo}/discussion`);
    assert.equal((await bob.client.get(`/tablos/${tablo}/discussion`)).status, 200);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id, cat.id]);
    await catsEvents.waitFor((s) => eventsAbout(s, 'members', tablo).length === 1, 10_000, 'a members event for Cat');

    const again = await bob.client.post(path);
    assert.equal(again.status, 303);
    assert.equal(again.headers.get('location'), `/tablos/${tablo}/discussion`);
    assert.equal((await ada.client.post(path)).headers.get('location'), `/tablos/${tablo}/discussion`, 'the owner too');
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id, cat.id]);
  });

  it('joining settles a pending invitation of the same person', async () => {
    const bob = await fresh('Bob');
    const tablo = await createTablo(ada, 'Both ways');
    const invitation = await inviteOk(ada, tablo, bob.email);
    const path = new URL(await makeJoinLink(ada, tablo)).pathname;
    await bob.client.get(path);
    assert.equal((await bob.client.post(path)).status, 303);
    assert.deepEqual(await invitationsOnHome(bob), []);
    assert.equal((await bob.client.post(`/invitations/${invitation}/accept`)).status, 404);
    assert.deepEqual([...pendingInvitations((await ada.client.get(`/tablos/${tablo}`)).html).keys()], []);
  });

  it('signed out: to sign in with next, and through sign-in back to the join page', async () => {
    const bob = await fresh('Bob');
    const tablo = await createTablo(ada, 'Sign in first');
    const path = new URL(await makeJoinLink(ada, tablo)).pathname;

    const client = new Client(app.url);
    const first = await client.get(path);
    assert.equal(first.status, 303);
    const location = first.headers.get('location')!;
    assert.equal(location, `/login?next=${path}`);
    const login = await client.get(location);
    assert.match(login.html, new RegExp(`<input type="hidden" name="next" value="${path}">`));
    assert.match(login.html, new RegExp(`href="/register\\?next=${encodeURIComponent(path)}"`), 'registering keeps next too');
    const signedIn = await client.post('/login', { email: bob.email, password: bob.password, next: path });
    assert.equal(signedIn.status, 303);
    assert.equal(signedIn.headers.get('location'), path);

    const page = await client.get(path);
    assert.ok(elementById(page.html, 'join'), 'form#join');
    const joined = await client.post(path);
    assert.equal(joined.headers.get('location'), `/tablos/${tablo}/discussion`);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id]);
  });

  it('signed out: through registration with next, a newcomer lands on the join page and joins', async () => {
    const tablo = await createTablo(ada, 'Newcomers welcome');
    const path = new URL(await makeJoinLink(ada, tablo)).pathname;
    const client = new Client(app.url);
    const register = await client.get(`/register?next=${encodeURIComponent(path)}`);
    assert.equal(register.status, 200);
    assert.match(register.html, new RegExp(`<input type="hidden" name="next" value="${path}">`));
    assert.match(register.html, new RegExp(`href="/login\\?next=${encodeURIComponent(path)}"`));

    // A refused registration keeps next.
    const refused = await client.post('/register', { email: 'not an email', name: 'Nina', password: PASSWORD, next: path });
    assert.equal(refused.status, 422);
    assert.match(refused.html, new RegExp(`<input type="hidden" name="next" value="${path}">`));

    const email = unknownEmail();
    const registered = await client.post('/register', { email, name: 'Nina', password: PASSWORD, next: path });
    assert.equal(registered.status, 303);
    assert.equal(registered.headers.get('location'), path);
    await client.get(path);
    const joined = await client.post(path);
    assert.equal(joined.status, 303);
    assert.equal(joined.headers.get('location'), `/tablos/${tablo}/discussion`);
    assert.equal((await client.get(`/tablos/${tablo}/discussion`)).status, 200);
  });

  it('registration follows only a same-site next', async () => {
    for (const next of ['//evil.example/join/x', 'https://evil.example/', '/\\evil.example']) {
      const client = new Client(app.url);
      await client.get(`/register?next=${encodeURIComponent(next)}`);
      const response = await client.post('/register', { email: unknownEmail(), name: 'Careful', password: PASSWORD, next });
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/tablos', next);
    }
  });

  it('revoked, replaced or unknown: 404, signed in or not; a new link works', async () => {
    const bob = await fresh('Bob');
    const tablo = await createTablo(ada, 'Closing doors');
    const first = new URL(await makeJoinLink(ada, tablo)).pathname;
    const second = new URL(await makeJoinLink(ada, tablo)).pathname;
    assert.notEqual(first, second);
    await bob.client.get('/tablos');
    assert.equal((await bob.client.get(first)).status, 404, 'replaced');
    assert.equal((await bob.client.post(first)).status, 404, 'replaced (POST)');

    const revoked = await ada.client.post(`/tablos/${tablo}/invite-link/revoke`);
    assert.equal(revoked.status, 303);
    assert.equal(revoked.headers.get('location'), `/tablos/${tablo}`);
    assert.equal(await joinLinkOnPage(ada, tablo), undefined, 'no link shown once revoked');
    await bob.client.get('/tablos');
    for (const path of [first, second, '/join/AAAAAAAAAAAAAAAAAAAAAAAA', '/join/x', '/join/%00']) {
      assert.equal((await bob.client.get(path)).status, 404, `GET ${path}`);
      assert.equal((await bob.client.post(path)).status, 404, `POST ${path}`);
      assert.equal((await new Client(app.url).get(path)).status, 404, `signed out: ${path}`);
    }
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id]);

    const third = new URL(await makeJoinLink(ada, tablo)).pathname;
    await bob.client.get(third);
    assert.equal((await bob.client.post(third)).status, 303);
    assert.deepEqual(await membersOnPage(ada, tablo), [ada.id, bob.id]);
  });
});
