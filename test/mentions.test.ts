/**
 * Mentions: `@handle` of a member (any case) and `@all` render as `.mention[data-user-id]` in the
 * one fragment everyone gets; anything else that looks like one (a non-member, code, a link, an
 * address) stays text. Who is mentioned is stored with the message and follows its edits and
 * deletion; /tablos counts unread mentions of me per tablo, and the title puts them first.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { mentionsIn } from '../src/discussion/mentions.ts';
import { type TestApp, startTestApp } from './support/app.ts';
import { type Person, registerPerson } from './support/client.ts';
import { elementById, parseArticle, postOk } from './support/discussion.ts';
import { eventsAbout, htmx, openEvents, Streams, tabloWith } from './support/members.ts';

let app: TestApp;
let ada: Person;
let bob: Person;
let cat: Person;
let eve: Person; // shares no tablo with the others
const streams = new Streams();
afterEach(() => streams.closeAll());

async function setHandle(person: Person, handle: string): Promise<void> {
  await person.client.get('/settings');
  const response = await person.client.post('/settings/handle', { handle });
  assert.equal(response.status, 303, `setting ${person.name}'s handle answered ${response.status}`);
}

before(async () => {
  app = await startTestApp();
  [ada, bob, cat, eve] = await Promise.all([
    registerPerson(app.url, 'Ada'),
    registerPerson(app.url, 'Bob'),
    registerPerson(app.url, 'Cat'),
    registerPerson(app.url, 'Eve'),
  ]);
  await setHandle(ada, 'ada');
  await setHandle(bob, 'Bob_Builder');
  await setHandle(cat, 'cat');
  await setHandle(eve, 'eve');
});
after(() => app?.close());

/** The `.mention` elements of a fragment: their data-user-id and text. */
function mentionsShown(html: string): { userId: string; text: string }[] {
  return [...html.matchAll(/<(a|span)\b([^>]*\bclass="mention[^"]*"[^>]*)>([^<]*)<\/\1>/g)].map((m) => ({
    userId: /data-user-id="([^"]*)"/.exec(m[2]!)?.[1] ?? '',
    text: m[3]!,
  }));
}

async function storedMentions(messageId: number): Promise<{ userIds: number[]; all: boolean }> {
  const rows = await app.db.selectFrom('mentions').select('user_id').where('message_id', '=', messageId).orderBy('user_id').execute();
  const message = await app.db.selectFrom('messages').select('mentions_all').where('id', '=', messageId).executeTakeFirstOrThrow();
  return { userIds: rows.map((r) => r.user_id), all: message.mentions_all };
}

async function edit(person: Person, tabloId: number, messageId: number, body: string) {
  const response = await person.client.post(`/tablos/${tabloId}/discussion/messages/${messageId}/edit`, { body }, htmx(person));
  assert.equal(response.status, 200, `editing answered ${response.status}`);
  return parseArticle(response.html);
}

describe('reading mentions in a body (mentionsIn)', () => {
  const members = [
    { id: 1, handle: 'ada' },
    { id: 2, handle: 'Bob_Builder' },
    { id: 3, handle: 'cy-3' },
  ];
  const read = (body: string) => mentionsIn(body, members);

  it('finds members by handle whatever the case, next to punctuation, each once', () => {
    assert.deepEqual(read('@ada, (@BOB_BUILDER) and @cy-3. Thanks @ada!').userIds, [1, 2, 3]);
    assert.deepEqual(read('"@ada": _@ada_ *@cy-3* @ada? @ada; @ada…').userIds, [1, 3]);
    assert.deepEqual(read('@ada\n@cy-3').userIds, [1, 3]);
  });

  it('leaves alone what only looks like a mention', () => {
    assert.deepEqual(read('mail ada@example.com or x@ada').userIds, []);
    assert.deepEqual(read('`@ada` and\n\n```\n@cy-3\n```').userIds, []);
    assert.deepEqual(read('[ask @ada](https://example.com) https://example.com/@ada').userIds, []);
    assert.deepEqual(read('@adam @ada_x @adaé @nobody \\@ada').userIds, []);
  });

  it('@all mentions everyone, in any case', () => {
    assert.deepEqual(read('@ALL please'), { userIds: [], all: true, mentions: [] });
    assert.equal(read('`@all`').all, false);
    assert.equal(read('install@all').all, false);
  });
});

describe('mentions in the fragment', () => {
  let tablo: number;
  before(async () => {
    tablo = await tabloWith(ada, 'Mentions', bob, cat);
    await ada.client.get(`/tablos/${tablo}/discussion`);
  });

  it('a member by handle, any case, is .mention[data-user-id]; a non-member is plain text', async () => {
    const posted = await postOk(ada, tablo, 'Hi @bob_builder and @CAT, not @eve nor @nobody');
    assert.deepEqual(mentionsShown(posted.bodyHtml), [
      { userId: String(bob.id), text: '@bob_builder' },
      { userId: String(cat.id), text: '@CAT' },
    ]);
    assert.ok(posted.bodyHtml.includes(`href="/people/${bob.id}"`), 'a mention links to the profile');
    assert.ok(posted.bodyHtml.includes('not @eve nor @nobody'), 'a non-member stays text');
    assert.deepEqual(await storedMentions(posted.id), { userIds: [bob.id, cat.id].sort((x, y) => x - y), all: false });
    // The page shows the same bytes as the POST answer.
    const page = await bob.client.get(`/tablos/${tablo}/discussion`);
    assert.ok(page.html.includes(posted.html), 'the page has the very fragment the POST answered');
  });

  it('@all is .mention[data-user-id="all"] and is stored as a flag', async () => {
    const posted = await postOk(ada, tablo, '@all standup in 5');
    assert.deepEqual(mentionsShown(posted.bodyHtml), [{ userId: 'all', text: '@all' }]);
    assert.deepEqual(await storedMentions(posted.id), { userIds: [], all: true });
  });

  it('nothing in a code span, a code block or a link is a mention', async () => {
    const posted = await postOk(ada, tablo, 'run `@cat` or [@cat](https://example.com)\n\n```\n@bob_builder @all\n```');
    assert.deepEqual(mentionsShown(posted.bodyHtml), []);
    assert.deepEqual(await storedMentions(posted.id), { userIds: [], all: false });
  });

  it('an edit that adds or removes a mention changes who is mentioned', async () => {
    const posted = await postOk(ada, tablo, 'ping @cat');
    assert.deepEqual(await storedMentions(posted.id), { userIds: [cat.id], all: false });
    const edited = await edit(ada, tablo, posted.id, 'ping @bob_builder instead');
    assert.deepEqual(mentionsShown(edited.bodyHtml), [{ userId: String(bob.id), text: '@bob_builder' }]);
    assert.deepEqual(await storedMentions(posted.id), { userIds: [bob.id], all: false });
    const again = await edit(ada, tablo, posted.id, 'never mind, @all');
    assert.deepEqual(mentionsShown(again.bodyHtml), [{ userId: 'all', text: '@all' }]);
    assert.deepEqual(await storedMentions(posted.id), { userIds: [], all: true });
    const none = await edit(ada, tablo, posted.id, 'never mind');
    assert.deepEqual(mentionsShown(none.bodyHtml), []);
    assert.deepEqual(await storedMentions(posted.id), { userIds: [], all: false });
  });

  it('the composer can list the members to mention, for members only', async () => {
    const response = await bob.client.request(`/tablos/${tablo}/handles`, { headers: { Accept: 'application/json' } });
    assert.equal(response.status, 200);
    const { members } = (await response.json()) as { members: { id: number; handle: string; name: string }[] };
    assert.deepEqual(members.map((m) => m.id).sort((x, y) => x - y), [ada.id, bob.id, cat.id].sort((x, y) => x - y));
    assert.equal(members.find((m) => m.id === bob.id)?.handle, 'Bob_Builder');
    assert.equal((await eve.client.request(`/tablos/${tablo}/handles`)).status, 404);
  });
});

describe('mention counts and the title', () => {
  // People of their own: the title counts every tablo of theirs.
  before(async () => {
    [ada, bob, cat] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob'), registerPerson(app.url, 'Cat')]);
    await setHandle(ada, 'ada2');
    await setHandle(bob, 'Bob_Builder2');
    await setHandle(cat, 'cat2');
  });

  /** The mention and unread badges of a tablo on /tablos. */
  async function badges(person: Person, tabloId: number) {
    const page = await person.client.get('/tablos');
    const item = elementById(page.html, `tablo-${tabloId}`);
    assert.ok(item, `li#tablo-${tabloId}`);
    const badge = (name: string) => {
      const m = new RegExp(`<span class="${name}"([^>]*)>([^<]*)</span>`).exec(item.inner);
      assert.ok(m, `.${name}`);
      return { text: m[2]!, hidden: /\shidden\b/.test(m[1]!) };
    };
    const title = /<title>([^<]*)<\/title>/.exec(page.html)?.[1];
    return { mentions: badge('mention-count'), unread: badge('unread-count'), title };
  }

  it('counts mentions of me by others above my read position, deleted ones excluded, live', async () => {
    const tablo = await tabloWith(ada, 'Counted', bob, cat);
    await bob.client.get(`/tablos/${tablo}/discussion`); // read up to now
    assert.deepEqual((await badges(bob, tablo)).mentions, { text: '', hidden: true });

    const bobsEvents = await streams.add(openEvents(bob.client));
    await ada.client.get(`/tablos/${tablo}/discussion`);
    await postOk(ada, tablo, 'hello');
    await postOk(ada, tablo, '@Bob_Builder2 can you look?');
    const toAll = await postOk(cat, tablo, '@all lunch?');
    await postOk(bob, tablo, '@bob_builder2 note to self'); // my own: never counted
    // Bob's open pages hear of each post (and re-read their counts).
    await bobsEvents.waitFor((s) => eventsAbout(s, 'activity', tablo).length >= 4, 10_000, 'activity for Bob');
    let seen = await badges(bob, tablo);
    assert.deepEqual(seen.mentions, { text: '2', hidden: false });
    assert.deepEqual(seen.unread, { text: '3', hidden: false });
    assert.match(seen.title ?? '', /^\(@2 · 3\) /);
    const counts = await bob.client.request('/unread', { headers: { 'HX-Request': 'true', Accept: 'application/json' } });
    assert.deepEqual(await counts.json(), { unread: 3, mentions: 2 });
    assert.equal(await (await bob.client.request('/unread', { headers: { 'HX-Request': 'true' } })).text(), '3');

    // Cat's @all is for the others, not for Cat.
    assert.deepEqual((await badges(cat, tablo)).mentions, { text: '', hidden: true });
    assert.deepEqual((await badges(ada, tablo)).mentions, { text: '1', hidden: false });

    // A deleted mention no longer counts.
    await cat.client.get(`/tablos/${tablo}/discussion`);
    const deleted = await cat.client.post(`/tablos/${tablo}/discussion/messages/${toAll.id}/delete`, {}, htmx(cat));
    assert.equal(deleted.status, 200);
    seen = await badges(bob, tablo);
    assert.deepEqual(seen.mentions, { text: '1', hidden: false });
    assert.match(seen.title ?? '', /^\(@1 · 2\) /);

    // Reading the discussion reads the mentions too; the title drops the @ part.
    const discussion = await bob.client.get(`/tablos/${tablo}/discussion`);
    assert.doesNotMatch(/<title>([^<]*)<\/title>/.exec(discussion.html)?.[1] ?? '', /^\(/);
    seen = await badges(bob, tablo);
    assert.deepEqual(seen.mentions, { text: '', hidden: true });
    assert.doesNotMatch(seen.title ?? '', /^\(/);
  });

  it('the discussion page title counts mentions elsewhere first', async () => {
    const here = await tabloWith(ada, 'Here', bob);
    const elsewhere = await tabloWith(ada, 'Elsewhere', bob);
    await ada.client.get(`/tablos/${elsewhere}/discussion`);
    await postOk(ada, elsewhere, 'hey @bob_builder2');
    await postOk(ada, elsewhere, 'and more');
    const page = await bob.client.get(`/tablos/${here}/discussion`);
    // Everything Bob has not read, in every tablo, counts; of it, one mention.
    const title = /<title>([^<]*)<\/title>/.exec(page.html)?.[1] ?? '';
    const match = /^\(@1 · (\d+)\) Here · Tablo$/.exec(title);
    assert.ok(match, `title: ${title}`);
    assert.ok(Number(match[1]) >= 2);
  });
});
