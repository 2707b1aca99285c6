/**
 * Every change is an event: edits, deletions and reactions take the tablo's next seq like new
 * messages do, reach open streams with a higher data-version, replay in their current state, and
 * hold exactly across reconnects and two instances. Who may edit, delete, react and reply, and
 * what a deleted message leaves behind (nothing of its text).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import {
  type Article,
  addMember,
  articlesIn,
  attributes,
  elementById,
  eventually,
  parseArticle,
  postMessage,
  postOk,
  unreadBadge,
} from './support/discussion.ts';
import { openStream, type OpenOptions, type SseStream } from './support/sse.ts';

const env = { REALTIME_BUS: 'postgres' };
const LONG = 30_000; // generous: a wait that runs out is a failure, never a measurement

let a: TestApp;
let b: TestApp;
let ada: Person; // owns the tablos below
let bob: Person;
let cat: Person;
let dan: Person;
let eve: Person; // a member of none of them

before(async () => {
  a = await startTestApp({ env });
  b = await startTestApp({ databaseUrl: a.databaseUrl, env });
  [ada, bob, cat, dan, eve] = await Promise.all([
    registerPerson(a.url, 'Ada'),
    registerPerson(a.url, 'Bob'),
    registerPerson(a.url, 'Cat'),
    registerPerson(a.url, 'Dan'),
    registerPerson(a.url, 'Eve'),
  ]);
});
after(async () => {
  await b?.stop();
  await a?.close();
});

const open: SseStream[] = [];
async function stream(person: Person, tabloId: number, options: OpenOptions = {}): Promise<SseStream> {
  const s = await openStream(person.client, tabloId, options);
  open.push(s);
  assert.equal(s.status, 200, `stream for ${person.name}`);
  return s;
}
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function tabloWith(members: Person[], title = 'Changes'): Promise<number> {
  const tablo = await createTablo(ada, title);
  for (const member of members) await addMember(a.db, tablo, member.id);
  for (const person of [ada, ...members]) await person.client.get(`/tablos/${tablo}/discussion`); // a fresh CSRF token
  return tablo;
}

type Answer = Response & { html: string };

/** A change to a message (`edit`, `delete`, `reactions`), as htmx sends it or as a plain form. */
function change(
  person: Person,
  tabloId: number,
  messageId: number | string,
  what: 'edit' | 'delete' | 'reactions',
  fields: Record<string, string> = {},
  options: { htmx?: boolean } = {},
): Promise<Answer> {
  const htmx = options.htmx ?? true;
  const headers: Record<string, string> = htmx ? { 'HX-Request': 'true', 'X-CSRF-Token': person.client.csrfToken ?? '' } : {};
  return person.client.post(`/tablos/${tabloId}/discussion/messages/${messageId}/${what}`, fields, headers);
}

async function changeOk(...args: Parameters<typeof change>): Promise<Article> {
  const answer = await change(...args);
  assert.equal(answer.status, 200, `${args[3]} answered ${answer.status}: ${answer.html.slice(0, 200)}`);
  return parseArticle(answer.html);
}

async function newestSeq(tabloId: number): Promise<number> {
  const row = await a.db.selectFrom('tablos').select('last_seq').where('id', '=', tabloId).executeTakeFirstOrThrow();
  return row.last_seq;
}

async function stored(messageId: number) {
  return a.db.selectFrom('messages').selectAll().where('id', '=', messageId).executeTakeFirstOrThrow();
}

/** The discussion page's messages, and the page itself. */
async function pageOf(person: Person, tabloId: number, query = '') {
  const page = await person.client.get(`/tablos/${tabloId}/discussion${query}`);
  assert.equal(page.status, 200);
  const list = elementById(page.html, 'messages');
  assert.ok(list, '#messages');
  return { html: page.html, articles: articlesIn(list.inner) };
}

/** The `.reaction` buttons of a fragment: emoji → { count (its text), user ids, title }. */
function reactionsOf(html: string): Map<string, { count: number; userIds: number[]; title: string }> {
  const found = new Map<string, { count: number; userIds: number[]; title: string }>();
  for (const m of html.matchAll(/<(\w+)\b([^>]*\bclass="(?:[^"]*\s)?reaction(?:\s[^"]*)?"[^>]*)>([^<]*)<\/\1>/g)) {
    const attrs = attributes(` ${m[2]!}`);
    found.set(decode(attrs['data-emoji'] ?? ''), {
      count: Number(m[3]!.trim()),
      userIds: (attrs['data-user-ids'] ?? '').split(' ').filter(Boolean).map(Number),
      title: decode(attrs.title ?? ''),
    });
  }
  return found;
}

const decode = (text: string) =>
  text.replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

describe('editing a message', () => {
  it('lets its author edit it: a new version with .message-edited, the same data-seq, the next seq of the log', async () => {
    const tablo = await tabloWith([bob]);
    const posted = await postOk(ada, tablo, 'Helo everyone');
    assert.equal(posted.version, 1);
    assert.doesNotMatch(posted.html, /message-edited/);
    const reader = await stream(bob, tablo, { after: await newestSeq(tablo) });
    const edited = await changeOk(ada, tablo, posted.id, 'edit', { body: 'Hello everyone' });
    assert.equal(edited.id, posted.id);
    assert.equal(edited.seq, posted.seq, 'data-seq stays the seq of its creation');
    assert.equal(edited.version, 2);
    assert.match(edited.html, /class="message-edited"/);
    assert.match(edited.bodyHtml, /Hello everyone/);
    assert.equal(await newestSeq(tablo), posted.seq + 1, 'the edit took the next seq');
    await reader.waitForId(posted.seq + 1);
    assert.deepEqual(reader.messageIds, [posted.seq + 1]);
    assert.equal(reader.messages[0]!.data, edited.html, 'the stream carries the edited fragment');
    const page = await pageOf(bob, tablo);
    assert.equal(page.articles.find((m) => m.id === posted.id)?.html, edited.html, 'the page shows the same bytes');
  });

  it('answers a plain form with 303 to the permalink', async () => {
    const tablo = await tabloWith([]);
    const posted = await postOk(ada, tablo, 'first draft');
    const answer = await change(ada, tablo, posted.id, 'edit', { body: 'second draft' }, { htmx: false });
    assert.equal(answer.status, 303);
    assert.equal(answer.headers.get('location'), `/tablos/${tablo}/discussion?at=${posted.seq}`);
    assert.equal((await stored(posted.id)).body, 'second draft');
  });

  it('is the author’s alone: 403 for another member and the owner, 404 for a stranger, 401 signed out, 403 without CSRF', async () => {
    const tablo = await tabloWith([bob, cat]);
    const posted = await postOk(bob, tablo, 'mine to edit');
    assert.equal((await change(cat, tablo, posted.id, 'edit', { body: 'cat was here' })).status, 403);
    assert.equal((await change(ada, tablo, posted.id, 'edit', { body: 'the owner was here' })).status, 403, 'the owner does not edit others');
    await eve.client.get('/tablos');
    assert.equal((await change(eve, tablo, posted.id, 'edit', { body: 'eve was here' })).status, 404);
    const signedOut = new Client(a.url);
    await signedOut.get('/login');
    const outHtmx = await signedOut.post(`/tablos/${tablo}/discussion/messages/${posted.id}/edit`, { body: 'x' }, { 'HX-Request': 'true', 'X-CSRF-Token': signedOut.csrfToken ?? '' });
    assert.equal(outHtmx.status, 401);
    const outPlain = await signedOut.post(`/tablos/${tablo}/discussion/messages/${posted.id}/edit`, { body: 'x' });
    assert.equal(outPlain.status, 303);
    assert.match(outPlain.headers.get('location') ?? '', /^\/login\?next=/);
    const noToken = await bob.client.post(`/tablos/${tablo}/discussion/messages/${posted.id}/edit`, { body: 'forged', _csrf: '' }, { 'HX-Request': 'true' });
    assert.equal(noToken.status, 403);
    const forged = await bob.client.post(`/tablos/${tablo}/discussion/messages/${posted.id}/edit`, { body: 'forged', _csrf: 'forged' }, { 'HX-Request': 'true', 'X-CSRF-Token': 'forged' });
    assert.equal(forged.status, 403);
    const row = await stored(posted.id);
    assert.equal(row.body, 'mine to edit', 'nothing changed');
    assert.equal(row.version, 1);
  });

  it('404s an unknown, malformed, deleted or other tablo’s message', async () => {
    const tablo = await tabloWith([]);
    const other = await tabloWith([], 'Elsewhere');
    const elsewhere = await postOk(ada, other, 'in the other tablo');
    const posted = await postOk(ada, tablo, 'soon gone');
    await changeOk(ada, tablo, posted.id, 'delete');
    for (const id of [posted.id, 2_000_000_000, 'abc', '0', '1e3', elsewhere.id]) {
      assert.equal((await change(ada, tablo, id, 'edit', { body: 'again' })).status, 404, `message ${id}`);
    }
    assert.equal((await stored(elsewhere.id)).body, 'in the other tablo');
  });

  it('validates the body like a post: 422 and nothing stored', async () => {
    const tablo = await tabloWith([]);
    const posted = await postOk(ada, tablo, 'keep me');
    for (const body of ['', '   \n ', 'x'.repeat(5001), 'nul \u0000 here']) {
      const answer = await change(ada, tablo, posted.id, 'edit', { body });
      assert.equal(answer.status, 422, `body of ${body.length} characters`);
      assert.ok(answer.html.trim().length > 0, 'a readable message');
    }
    const plain = await change(ada, tablo, posted.id, 'edit', { body: '' }, { htmx: false });
    assert.equal(plain.status, 422);
    assert.match(plain.html, /<form\b[^>]*class="message-editor"/);
    const row = await stored(posted.id);
    assert.equal(row.body, 'keep me');
    assert.equal(row.version, 1);
    assert.equal(await newestSeq(tablo), posted.seq, 'no seq taken');
    await changeOk(ada, tablo, posted.id, 'edit', { body: `  ${'é'.repeat(5000)}  ` });
  });

  it('serves the author the edit form with the body’s source, and nobody else', async () => {
    const tablo = await tabloWith([bob]);
    const posted = await postOk(ada, tablo, 'a <b>bold</b> & "quoted" claim');
    const form = await ada.client.get(`/tablos/${tablo}/discussion/messages/${posted.id}/edit`, { 'HX-Request': 'true' });
    assert.equal(form.status, 200);
    assert.match(form.html, /<textarea\b[^>]*name="body"[^>]*>a &lt;b&gt;bold&lt;\/b&gt; &amp; &quot;quoted&quot; claim<\/textarea>/);
    assert.equal((await bob.client.get(`/tablos/${tablo}/discussion/messages/${posted.id}/edit`, { 'HX-Request': 'true' })).status, 403);
    assert.equal((await eve.client.get(`/tablos/${tablo}/discussion/messages/${posted.id}/edit`, { 'HX-Request': 'true' })).status, 404);
  });
});

describe('deleting a message', () => {
  it('lets the author delete: the fragment keeps its article with data-deleted and nothing of the message', async () => {
    const tablo = await tabloWith([bob]);
    const posted = await postOk(bob, tablo, 'a secret-ish remark');
    await changeOk(ada, tablo, posted.id, 'reactions', { emoji: '👀' });
    const reader = await stream(ada, tablo, { after: await newestSeq(tablo) });
    const deleted = await changeOk(bob, tablo, posted.id, 'delete');
    assert.equal(deleted.id, posted.id);
    assert.equal(deleted.seq, posted.seq);
    assert.equal(deleted.version, 3, 'posted, reacted, deleted');
    assert.ok(deleted.deleted);
    assert.match(deleted.html, /^<article\b[^>]*\bdata-deleted\b/);
    assert.doesNotMatch(deleted.html, /secret-ish|Bob|👀|reaction/);
    await reader.waitForId(posted.seq + 2);
    assert.equal(reader.messages.at(-1)!.data, deleted.html);
    const row = await stored(posted.id);
    assert.equal(row.body, '', 'the body is gone from the database too');
  });

  it('lets the owner delete a member’s message; another member gets 403, a stranger 404; plain form 303 to the discussion', async () => {
    const tablo = await tabloWith([bob, cat]);
    const first = await postOk(bob, tablo, 'one');
    const second = await postOk(bob, tablo, 'two');
    assert.equal((await change(cat, tablo, first.id, 'delete')).status, 403);
    assert.equal((await change(eve, tablo, first.id, 'delete')).status, 404);
    assert.equal((await stored(first.id)).deleted_at, null);
    const signedOut = new Client(a.url);
    await signedOut.get('/login');
    assert.equal((await signedOut.post(`/tablos/${tablo}/discussion/messages/${first.id}/delete`, {}, { 'HX-Request': 'true', 'X-CSRF-Token': signedOut.csrfToken ?? '' })).status, 401);
    assert.equal((await bob.client.post(`/tablos/${tablo}/discussion/messages/${first.id}/delete`, { _csrf: 'forged' })).status, 403);
    assert.equal((await stored(first.id)).deleted_at, null);
    const byOwner = await change(ada, tablo, first.id, 'delete', {}, { htmx: false });
    assert.equal(byOwner.status, 303);
    assert.equal(byOwner.headers.get('location'), `/tablos/${tablo}/discussion`);
    assert.ok((await changeOk(bob, tablo, second.id, 'delete')).deleted);
    assert.equal((await change(bob, tablo, second.id, 'delete')).status, 404, 'deleted twice');
    assert.equal((await change(bob, tablo, second.id, 'reactions', { emoji: '👍' })).status, 404, 'no reactions on a deleted message');
  });

  it('leaves nothing of its text on the page, in the stream, in a replay, in a reply or on /tablos, and stops counting as unread', async () => {
    const tablo = await tabloWith([bob]);
    await postOk(ada, tablo, 'hello');
    const secret = 'Zanzibar-password-4711';
    const posted = await postOk(bob, tablo, `the code is ${secret}`);
    const reply = await postMessage(ada, tablo, 'noted', { fields: { reply_to: String(posted.id) } });
    assert.equal(reply.status, 201);
    assert.match(reply.html, new RegExp(secret), 'the reply quotes it while it exists');
    assert.equal((await unreadBadge(ada, tablo)).count, 1, 'Bob’s message is unread for Ada');
    const live = await stream(bob, tablo, { after: await newestSeq(tablo) });
    await changeOk(bob, tablo, posted.id, 'delete');
    await live.waitForId((await newestSeq(tablo)));
    assert.equal((await unreadBadge(ada, tablo)).count, 0, 'a deleted message is no longer unread');
    const home = await ada.client.get('/tablos');
    const page = await pageOf(ada, tablo);
    const replay = await stream(ada, tablo, { after: 0 });
    await replay.waitForId(await newestSeq(tablo));
    for (const [where, text] of [
      ['the page', page.html],
      ['/tablos', home.html],
      ['the replay', replay.messages.map((e) => e.data).join('\n')],
      ['the live stream after the deletion', live.messages.map((e) => e.data).join('\n')],
    ] as const) {
      assert.ok(!text.includes(secret), `${where} shows nothing of the deleted text`);
    }
    const quoted = page.articles.find((m) => m.id === parseArticle(reply.html).id)!;
    assert.match(quoted.html, /<p class="message-reply"><a href="#message-\d+"[^>]*>[\s\S]*deleted message/);
    assert.equal(quoted.version, 2, 'the reply changed with its original');
  });
});

describe('reactions', () => {
  it('toggle one person’s reaction; counts, user ids and names are in the fragment, live for everyone', async () => {
    const tablo = await tabloWith([bob, cat]);
    const posted = await postOk(ada, tablo, 'ship it?');
    const reader = await stream(cat, tablo, { after: await newestSeq(tablo) });
    const one = await changeOk(bob, tablo, posted.id, 'reactions', { emoji: '👍' });
    assert.deepEqual(reactionsOf(one.html).get('👍'), { count: 1, userIds: [bob.id], title: 'Bob' });
    const two = await changeOk(cat, tablo, posted.id, 'reactions', { emoji: '👍' });
    assert.deepEqual(reactionsOf(two.html).get('👍'), { count: 2, userIds: [bob.id, cat.id], title: 'Bob, Cat' });
    const more = await changeOk(ada, tablo, posted.id, 'reactions', { emoji: 'ship it' });
    assert.equal(reactionsOf(more.html).get('ship it')?.count, 1);
    const back = await changeOk(bob, tablo, posted.id, 'reactions', { emoji: '👍' });
    assert.deepEqual(reactionsOf(back.html).get('👍'), { count: 1, userIds: [cat.id], title: 'Cat' });
    assert.deepEqual([one, two, more, back].map((m) => m.version), [2, 3, 4, 5]);
    assert.ok([one, two, more, back].every((m) => m.seq === posted.seq));
    await reader.waitForId(posted.seq + 4);
    assert.deepEqual(reader.messageIds, range(posted.seq + 1, posted.seq + 4));
    assert.equal(reader.messages.at(-1)!.data, back.html);
    const plain = await change(cat, tablo, posted.id, 'reactions', { emoji: '🎉' }, { htmx: false });
    assert.equal(plain.status, 303);
    assert.equal(plain.headers.get('location'), `/tablos/${tablo}/discussion?at=${posted.seq}`);
  });

  it('takes 1–16 characters (422 otherwise, nothing stored) from members only', async () => {
    const tablo = await tabloWith([bob]);
    const posted = await postOk(ada, tablo, 'react to me');
    for (const emoji of ['', '   ', 'x'.repeat(17), '😀'.repeat(17)]) {
      assert.equal((await change(bob, tablo, posted.id, 'reactions', { emoji })).status, 422, `emoji of ${[...emoji].length}`);
    }
    assert.equal((await bob.client.post(`/tablos/${tablo}/discussion/messages/${posted.id}/reactions`, {}, { 'HX-Request': 'true', 'X-CSRF-Token': bob.client.csrfToken ?? '' })).status, 422);
    assert.equal((await stored(posted.id)).version, 1);
    assert.equal((await change(eve, tablo, posted.id, 'reactions', { emoji: '👍' })).status, 404);
    assert.equal((await bob.client.post(`/tablos/${tablo}/discussion/messages/${posted.id}/reactions`, { emoji: '👍', _csrf: 'forged' })).status, 403);
    assert.equal((await stored(posted.id)).version, 1);
    assert.equal(reactionsOf((await changeOk(bob, tablo, posted.id, 'reactions', { emoji: '😀'.repeat(16) })).html).size, 1);
  });

  it('does not make a message unread again, nor does an edit', async () => {
    const tablo = await tabloWith([bob]);
    await postOk(bob, tablo, 'read me');
    await pageOf(ada, tablo); // Ada reads it
    assert.equal((await unreadBadge(ada, tablo)).count, 0);
    const posted = await postOk(bob, tablo, 'and me');
    await pageOf(ada, tablo);
    await changeOk(bob, tablo, posted.id, 'edit', { body: 'and me, edited' });
    await changeOk(bob, tablo, posted.id, 'reactions', { emoji: '✅' });
    assert.equal((await unreadBadge(ada, tablo)).count, 0);
  });
});

describe('replies and permalinks', () => {
  it('a reply quotes its original’s author and the start of its text, with a link to it; it follows its edits', async () => {
    const tablo = await tabloWith([bob]);
    const original = await postOk(bob, tablo, `Shall we meet on Thursday? ${'and more words '.repeat(20)}`);
    const reply = await postMessage(ada, tablo, 'Thursday works', { fields: { reply_to: String(original.id) } });
    assert.equal(reply.status, 201);
    const article = parseArticle(reply.html);
    const quote = /<p class="message-reply"><a href="#message-(\d+)"[^>]*>([\s\S]*?)<\/a><\/p>/.exec(article.html);
    assert.ok(quote, '.message-reply a[href="#message-{id}"]');
    assert.equal(Number(quote[1]), original.id);
    assert.match(quote[2]!, /Bob/);
    assert.match(quote[2]!, /Shall we meet on Thursday\?/);
    assert.ok(quote[2]!.length < 400, 'only the start of the text');
    const reader = await stream(ada, tablo, { after: await newestSeq(tablo) });
    const edited = await changeOk(bob, tablo, original.id, 'edit', { body: 'Shall we meet on Friday?' });
    await reader.waitForId(edited.seq + 3);
    const [first, second] = reader.messages;
    assert.deepEqual(reader.messageIds, [article.seq + 1, article.seq + 2], 'the original, then its reply');
    assert.equal(first!.data, edited.html);
    const changedReply = parseArticle(second!.data);
    assert.equal(changedReply.id, article.id);
    assert.equal(changedReply.version, 2);
    assert.match(changedReply.html, /Friday/);
  });

  it('refuses a reply to a message of another tablo, or to no message (422, nothing stored)', async () => {
    const tablo = await tabloWith([]);
    const other = await tabloWith([], 'Elsewhere');
    const elsewhere = await postOk(ada, other, 'over there');
    const before = await newestSeq(tablo);
    for (const replyTo of [String(elsewhere.id), '2000000000', 'abc', '-1']) {
      const answer = await postMessage(ada, tablo, 'a reply', { fields: { reply_to: replyTo } });
      assert.equal(answer.status, 422, `reply_to ${replyTo}`);
    }
    assert.equal(await newestSeq(tablo), before);
  });

  it('?at={seq} opens the discussion around that message, highlighted; /messages/{id} redirects there', async () => {
    const tablo = await tabloWith([bob]);
    const posted: Article[] = [];
    for (let i = 1; i <= 80; i++) posted.push(await postOk(i % 2 ? ada : bob, tablo, `message ${i}`));
    const target = posted[9]!;
    const fragments = new Map(posted.map((m) => [m.id, m.html]));
    const page = await pageOf(bob, tablo, `?at=${target.seq}`);
    const highlighted = page.articles.filter((m) => / message-highlighted[ "]/.test(m.html.slice(0, m.html.indexOf('>'))));
    assert.deepEqual(highlighted.map((m) => m.id), [target.id], 'exactly the target is highlighted');
    for (const article of page.articles) {
      if (article.id === target.id) assert.equal(article.html.replace(' message-highlighted', ''), fragments.get(article.id));
      else assert.equal(article.html, fragments.get(article.id), 'every other article is the fragment');
    }
    assert.ok(page.articles.some((m) => m.seq < target.seq) && page.articles.some((m) => m.seq > target.seq), 'around it');
    const newest = await pageOf(bob, tablo);
    assert.ok(!newest.articles.some((m) => m.id === target.id), 'the plain page does not reach that far back');
    assert.doesNotMatch(newest.html, /message-highlighted/);
    const link = await bob.client.get(`/tablos/${tablo}/discussion/messages/${target.id}`);
    assert.equal(link.status, 303);
    assert.equal(link.headers.get('location'), `/tablos/${tablo}/discussion?at=${target.seq}`);
    assert.equal((await eve.client.get(`/tablos/${tablo}/discussion/messages/${target.id}`)).status, 404);
    const other = await tabloWith([], 'Elsewhere');
    assert.equal((await ada.client.get(`/tablos/${other}/discussion/messages/${target.id}`)).status, 404);
  });
});

describe('the log', () => {
  it('numbers every change; a replay carries each message in its current state; the page’s stream starts at the newest event', async () => {
    const tablo = await tabloWith([bob]);
    const first = await postOk(ada, tablo, 'one');
    const second = await postOk(bob, tablo, 'two');
    await changeOk(ada, tablo, first.id, 'edit', { body: 'one, edited' });
    await changeOk(bob, tablo, first.id, 'reactions', { emoji: '❤️' });
    const last = await changeOk(bob, tablo, second.id, 'delete');
    assert.equal(await newestSeq(tablo), 5);
    const events = await a.db.selectFrom('tablo_events').select(['seq', 'message_id', 'kind']).where('tablo_id', '=', tablo).orderBy('seq').execute();
    assert.deepEqual(
      events.map((e) => [e.seq, e.message_id, e.kind]),
      [
        [1, first.id, 'created'],
        [2, second.id, 'created'],
        [3, first.id, 'edited'],
        [4, first.id, 'reacted'],
        [5, second.id, 'deleted'],
      ],
    );
    const page = await pageOf(bob, tablo);
    assert.match(page.html, new RegExp(`hx-sse:connect="/tablos/${tablo}/discussion/stream\\?after=5"`));
    const replay = await stream(bob, tablo, { after: 0 });
    await replay.waitForId(5);
    assert.deepEqual(replay.messageIds, [1, 2, 3, 4, 5]);
    const now = new Map(page.articles.map((m) => [m.id, m.html]));
    for (const event of replay.messages) {
      const article = parseArticle(event.data);
      assert.equal(event.data, now.get(article.id), `event ${event.id} carries the message as it is now`);
    }
    assert.equal(now.get(second.id), last.html);
    const resumed = await stream(bob, tablo, { lastEventId: 3 });
    await resumed.waitForId(5);
    assert.deepEqual(resumed.messageIds, [4, 5]);
  });

  it('counts events toward the 500 that a replay may hold', async () => {
    const tablo = await tabloWith([bob]);
    const posted = await postOk(ada, tablo, 'popular');
    let toggles = 0;
    await Promise.all(
      Array.from({ length: 6 }, async () => {
        while (toggles < 501) {
          toggles++;
          await changeOk(bob, tablo, posted.id, 'reactions', { emoji: '🎉' });
        }
      }),
    );
    const newest = await newestSeq(tablo);
    assert.ok(newest > 501);
    const reader = await stream(ada, tablo, { after: 0 });
    await reader.waitFor((s) => s.events.some((e) => e.type === 'resync'), LONG, 'resync');
    const resync = reader.events.find((e) => e.type === 'resync')!;
    assert.equal(resync.id, String(newest));
    const near = await stream(ada, tablo, { after: newest - 500 });
    await near.waitForId(newest, LONG);
    assert.equal(near.events.filter((e) => e.type === 'resync').length, 0);
    assert.deepEqual(near.messageIds, range(newest - 499, newest));
  });
});

describe('exactness for mixed changes on two instances', () => {
  it('an edit, a reaction and a deletion made on one instance reach the other’s open streams live', async () => {
    const tablo = await tabloWith([bob]);
    const posted = await postOk(ada, tablo, 'across instances');
    const onB = new Client(b.url);
    onB.setCookie('tablo.sid', bob.client.cookie('tablo.sid')!);
    const reader = await openStream(onB, tablo, { after: await newestSeq(tablo) });
    open.push(reader);
    assert.equal(reader.status, 200);
    const edited = await changeOk(ada, tablo, posted.id, 'edit', { body: 'across instances, edited' });
    await reader.waitForId(posted.seq + 1, LONG);
    assert.equal(reader.messages.at(-1)!.data, edited.html);
    const reacted = await changeOk(ada, tablo, posted.id, 'reactions', { emoji: '👀' });
    await reader.waitForId(posted.seq + 2, LONG);
    assert.equal(reader.messages.at(-1)!.data, reacted.html);
    const deleted = await changeOk(ada, tablo, posted.id, 'delete');
    await reader.waitForId(posted.seq + 3, LONG);
    assert.equal(reader.messages.at(-1)!.data, deleted.html);
    assert.deepEqual(reader.messageIds, range(posted.seq + 1, posted.seq + 3));
  });

  it('every reconnecting reader gets ids 1..N once each and ends with what a fresh page shows, byte for byte', async () => {
    const writers = [ada, bob, cat, dan];
    const tablo = await tabloWith([bob, cat, dan], 'Busy');
    const instances = [a, b];
    const as = async (person: Person, index: number): Promise<Person> => {
      const client = new Client(instances[index % 2]!.url);
      client.setCookie('tablo.sid', person.client.cookie('tablo.sid')!);
      await client.get(`/tablos/${tablo}/discussion`); // its CSRF token
      return { ...person, client };
    };
    const posters = await Promise.all(writers.map((w, i) => as(w, i)));
    const editors = await Promise.all([ada, bob].map((w, i) => as(w, i + 1)));
    const reactors = await Promise.all([cat, dan].map((w, i) => as(w, i)));
    const deleter = await as(ada, 1); // the owner deletes anyone's

    const ids: { id: number; authorId: number }[] = [];
    for (const poster of posters) {
      const article = await postOk(poster, tablo, `seed from ${poster.name}`);
      ids.push({ id: article.id, authorId: article.authorId });
    }
    const pick = <T>(items: T[]): T | undefined => items[Math.floor(Math.random() * items.length)];
    const expectOneOf = (answer: { status: number }, statuses: number[], what: string) =>
      assert.ok(statuses.includes(answer.status), `${what} answered ${answer.status}`);

    let changing = true;
    const counts = { posted: 0, edited: 0, reacted: 0, deleted: 0 };
    const changes = [
      ...posters.map(async (poster, i) => {
        for (let n = 1; changing; n++) {
          const replyTo = n % 3 === 0 ? pick(ids)?.id : undefined;
          const answer = await postMessage(poster, tablo, `${poster.name} #${n} ${'é😀'.repeat(n % 3)}`, {
            fields: replyTo ? { reply_to: String(replyTo) } : {},
          });
          expectOneOf(answer, [201], 'posting');
          ids.push({ id: parseArticle(answer.html).id, authorId: writers[i]!.id });
          counts.posted++;
          await sleep(15);
        }
      }),
      ...editors.map(async (editor) => {
        for (let n = 1; changing; n++) {
          const mine = pick(ids.filter((m) => m.authorId === editor.id));
          if (mine) {
            const answer = await change(editor, tablo, mine.id, 'edit', { body: `${editor.name} edited ${n}` });
            expectOneOf(answer, [200, 404], 'editing'); // 404: deleted meanwhile
            if (answer.status === 200) counts.edited++;
          }
          await sleep(25);
        }
      }),
      ...reactors.map(async (reactor) => {
        for (; changing; ) {
          const message = pick(ids);
          if (message) {
            const answer = await change(reactor, tablo, message.id, 'reactions', { emoji: pick(['👍', '❤️', '😂'])! });
            expectOneOf(answer, [200, 404], 'reacting');
            if (answer.status === 200) counts.reacted++;
          }
          await sleep(10);
        }
      }),
      (async () => {
        for (; changing; ) {
          await sleep(120);
          const message = pick(ids);
          if (message) {
            const answer = await change(deleter, tablo, message.id, 'delete');
            expectOneOf(answer, [200, 404], 'deleting');
            if (answer.status === 200) counts.deleted++;
          }
        }
      })(),
    ];

    // Readers reconnect every 50 ms, alternating instances, resuming with Last-Event-ID.
    const readerPeople = await Promise.all([bob, cat, dan].map((p, i) => Promise.all([as(p, i), as(p, i + 1)])));
    const readers = readerPeople.map((clients) => ({ clients, ids: [] as number[], newest: new Map<number, { version: number; html: string }>(), connections: 0 }));
    const readOnce = async (reader: (typeof readers)[number], lingerMs: number, until?: number) => {
      const last = reader.ids.at(-1);
      const client = reader.clients[reader.connections++ % 2]!;
      const s = await openStream(client.client, tablo, last === undefined ? { after: 0 } : { lastEventId: last });
      assert.equal(s.status, 200);
      if (until === undefined) await sleep(lingerMs);
      else await s.waitForId(until, LONG);
      s.close();
      await s.ended;
      assert.equal(s.events.filter((e) => e.type === 'resync').length, 0, 'no resync expected');
      for (const event of s.messages) {
        reader.ids.push(Number(event.id));
        const article = parseArticle(event.data);
        const shown = reader.newest.get(article.id);
        if (!shown || article.version > shown.version) reader.newest.set(article.id, { version: article.version, html: event.data });
        else if (article.version === shown.version) assert.equal(event.data, shown.html, 'one version, one fragment');
      }
    };
    const reading = readers.map(async (reader) => {
      while (changing) await readOnce(reader, 50);
    });

    // A few seconds of changes, and at least a few of each kind however busy the machine is.
    const enough = () => counts.posted >= 30 && counts.edited >= 6 && counts.reacted >= 6 && counts.deleted >= 3;
    const started = Date.now();
    while (Date.now() - started < 3_000 || (!enough() && Date.now() - started < 60_000)) await sleep(100);
    changing = false;
    await Promise.all(changes);
    await Promise.all(reading);
    const total = await newestSeq(tablo);
    for (const reader of readers) if (reader.ids.at(-1) !== total) await readOnce(reader, 0, total);

    // The fresh page, with everything older loaded: every message in its current state.
    const fresh = new Map<number, string>();
    let page = await pageOf(ada, tablo);
    for (const article of page.articles) fresh.set(article.id, article.html);
    let oldest = page.articles[0]?.seq ?? 0;
    while (oldest > 1) {
      const older = await ada.client.get(`/tablos/${tablo}/discussion/messages?before=${oldest}`);
      const articles = articlesIn(older.html);
      assert.ok(articles.length > 0);
      for (const article of articles) fresh.set(article.id, article.html);
      oldest = articles[0]!.seq;
    }
    assert.ok(enough(), `enough of each change: ${JSON.stringify(counts)}`);
    for (const [i, reader] of readers.entries()) {
      assert.ok(reader.connections > 3, `reader ${i} reconnected (${reader.connections} connections)`);
      assert.deepEqual(reader.ids, range(1, total), `reader ${i}: ids 1..${total} once each, in order`);
      assert.deepEqual([...reader.newest.keys()].sort((x, y) => x - y), [...fresh.keys()].sort((x, y) => x - y), `reader ${i}: every message`);
      for (const [id, shown] of reader.newest) assert.equal(shown.html, fresh.get(id), `reader ${i}: message ${id} as the page shows it`);
    }
  });
});
