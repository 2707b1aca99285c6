import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { postOk } from './support/discussion.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';

let app: TestApp;
let ada: Person;
let bob: Person;
before(async () => {
  app = await startTestApp();
  [ada, bob] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob')]);
});
after(() => app.close());

/** The ids of the tablos listed on /tablos, in page order. */
const listedIds = (html: string) => [...html.matchAll(/<li id="tablo-(\d+)"/g)].map((m) => Number(m[1]));
/** The `li#tablo-{id}` element's HTML. */
const listItem = (html: string, id: number) => new RegExp(`<li id="tablo-${id}"[^>]*>([\\s\\S]*?)</li>`).exec(html)?.[1];
const titleError = (html: string) => /<p class="field-error" id="title-error">([^<]*)<\/p>/.exec(html)?.[1];
const h1 = (html: string) => /<h1>([^<]*)<\/h1>/.exec(html)?.[1];

describe('the tablos page', () => {
  it('shows the empty state to someone with no tablos, and the new-tablo form', async () => {
    const carol = await registerPerson(app.url, 'Carol');
    const page = await carol.client.get('/tablos');
    assert.equal(page.status, 200);
    assert.match(page.html, /No tablos yet — create one/);
    assert.deepEqual(listedIds(page.html), []);
    assert.match(page.html, /<form id="new-tablo"[^>]*method="post"[^>]*action="\/tablos"/);
    assert.match(page.html, /name="title"/);
  });

  it('lists the tablos one owns, each with its link and an empty unread badge, and no one else’s', async () => {
    const first = await createTablo(ada, 'First of Ada');
    const second = await createTablo(ada, 'Second of Ada');
    const bobs = await createTablo(bob, 'Bob only');

    const page = await ada.client.get('/tablos');
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.html, /No tablos yet/);
    const ids = listedIds(page.html);
    assert.ok(ids.includes(first) && ids.includes(second));
    assert.ok(!ids.includes(bobs));
    assert.doesNotMatch(page.html, /Bob only/);
    // Newest activity first.
    assert.ok(ids.indexOf(second) < ids.indexOf(first));

    for (const [id, title] of [[first, 'First of Ada'], [second, 'Second of Ada']] as const) {
      const item = listItem(page.html, id);
      assert.ok(item, `li#tablo-${id}`);
      assert.match(item, new RegExp(`<a href="/tablos/${id}"[^>]*>[\\s\\S]*${title}[\\s\\S]*</a>`));
      const badge = /<span class="unread-count"([^>]*)>([^<]*)<\/span>/.exec(item);
      assert.ok(badge, '.unread-count');
      // Nothing unread yet: the badge is empty and hidden.
      assert.equal(badge[2]!.trim(), '');
      assert.match(badge[1]!, /\bhidden\b/);
    }

    const bobPage = await bob.client.get('/tablos');
    assert.deepEqual(listedIds(bobPage.html), [bobs]);
  });

  it('orders the tablos by latest activity, each showing its latest message', async () => {
    const dora = await registerPerson(app.url, 'Dora');
    const quiet = await createTablo(dora, 'Quiet one');
    const older = await createTablo(dora, 'Older talk');
    const newer = await createTablo(dora, 'Newer talk');
    await dora.client.get(`/tablos/${older}/discussion`);
    await postOk(dora, older, 'first in older');
    await postOk(dora, newer, 'only in newer');
    await postOk(dora, older, 'the <latest> in older');
    const page = await dora.client.get('/tablos');
    // older has the newest message, then newer; the one without messages comes last.
    assert.deepEqual(listedIds(page.html).filter((id) => [quiet, older, newer].includes(id)), [older, newer, quiet]);
    assert.match(listItem(page.html, older) ?? '', /Dora:<\/span> the &lt;latest&gt; in older/);
    assert.doesNotMatch(listItem(page.html, older) ?? '', /first in older/);
    assert.match(listItem(page.html, newer) ?? '', /Dora:<\/span> only in newer/);
    assert.match(listItem(page.html, quiet) ?? '', /no messages yet/);
    // A new message in the middle one brings it to the top.
    await postOk(dora, newer, 'back on top');
    const again = await dora.client.get('/tablos');
    assert.deepEqual(listedIds(again.html).filter((id) => [quiet, older, newer].includes(id)), [newer, older, quiet]);
  });

  it('redirects a signed-out visitor to sign in, and answers 401 to htmx', async () => {
    const stranger = new Client(app.url);
    const page = await stranger.get('/tablos');
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), '/login?next=%2Ftablos');
    const fragment = await stranger.get('/tablos', { 'HX-Request': 'true' });
    assert.equal(fragment.status, 401);
  });
});

describe('creating a tablo', () => {
  it('redirects to the new tablo’s discussion; its page lists its owner as a member', async () => {
    await ada.client.get('/tablos');
    const response = await ada.client.post('/tablos', { title: '  Launch plans  ' });
    assert.equal(response.status, 303);
    const location = response.headers.get('location') ?? '';
    const id = Number(/^\/tablos\/(\d+)\/discussion$/.exec(location)?.[1]);
    assert.ok(id > 0, location);

    const page = await ada.client.get(`/tablos/${id}`);
    assert.equal(page.status, 200);
    assert.equal(h1(page.html), 'Launch plans', 'the title is trimmed');
    assert.match(page.html, /<title>Launch plans · Tablo<\/title>/);
    assert.match(page.html, new RegExp(`<a [^>]*href="/tablos/${id}/discussion"`));
    const members = /<ul id="members"[^>]*>([\s\S]*?)<\/ul>/.exec(page.html)?.[1];
    assert.ok(members, '#members');
    assert.deepEqual([...members.matchAll(/<li data-user-id="(\d+)"/g)].map((m) => Number(m[1])), [ada.id]);
    assert.match(members, /Ada/);

    const list = await ada.client.get('/tablos');
    assert.ok(listedIds(list.html).includes(id));
  });

  it('accepts a title of exactly 120 characters, emoji counted as one each', async () => {
    for (const title of ['t'.repeat(120), '🚀'.repeat(120)]) {
      const id = await createTablo(ada, title);
      const page = await ada.client.get(`/tablos/${id}`);
      assert.equal(h1(page.html), title);
    }
  });

  const invalid: Array<[string, string]> = [
    ['an empty title', ''],
    ['a blank title', '   \t  '],
    ['a title of 121 characters', 'x'.repeat(121)],
    ['a title of 121 emoji', '🚀'.repeat(121)],
    ['a title with a NUL byte', 'Nul\u0000Title'],
  ];
  for (const [what, title] of invalid) {
    it(`answers 422 with the form and a readable message for ${what}; nothing is stored`, async () => {
      const listedBefore = listedIds((await bob.client.get('/tablos')).html);
      const response = await bob.client.post('/tablos', { title });
      assert.equal(response.status, 422);
      assert.match(response.html, /<form id="new-tablo"/);
      const message = titleError(response.html);
      assert.ok(message && /title/i.test(message), `message: ${message}`);
      assert.deepEqual(listedIds((await bob.client.get('/tablos')).html), listedBefore);
    });
  }

  it('answers 422 when the title field is missing altogether', async () => {
    await bob.client.get('/tablos');
    const response = await bob.client.post('/tablos', {});
    assert.equal(response.status, 422);
    assert.ok(titleError(response.html));
  });

  it('keeps the typed title in the re-rendered form', async () => {
    await bob.client.get('/tablos');
    const long = 'k'.repeat(121);
    const response = await bob.client.post('/tablos', { title: long });
    assert.equal(response.status, 422);
    assert.match(response.html, new RegExp(`name="title" value="${long}"`));
  });

  it('needs a signed-in person', async () => {
    const stranger = new Client(app.url);
    await stranger.get('/login');
    const response = await stranger.post('/tablos', { title: 'Anonymous' });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/login?next=%2Ftablos');
  });
});

describe('the tablo page', () => {
  let adaTablo: number;
  before(async () => {
    adaTablo = await createTablo(ada, 'Secret plans of Ada');
  });

  it('answers 404 to someone who is not a member, without revealing the tablo', async () => {
    const page = await bob.client.get(`/tablos/${adaTablo}`);
    assert.equal(page.status, 404);
    assert.doesNotMatch(page.html, /Secret plans/);
    assert.match(page.html, /Not found/);
    // The same answer as for a tablo that does not exist.
    const missing = await bob.client.get('/tablos/2000000000');
    assert.equal(missing.status, 404);
    assert.equal(missing.html, page.html);
  });

  it('answers 404 to htmx from a non-member too', async () => {
    const fragment = await bob.client.get(`/tablos/${adaTablo}`, { 'HX-Request': 'true' });
    assert.equal(fragment.status, 404);
    assert.doesNotMatch(fragment.html, /Secret plans|<html/);
  });

  for (const id of ['abc', '0', '1e3', '-1', '99999999999', '2147483648', '01', '1.0', '%201', '1%20', '0x1', '+1']) {
    it(`answers 404 for the malformed id ${JSON.stringify(id)}`, async () => {
      const page = await ada.client.get(`/tablos/${id}`);
      assert.equal(page.status, 404);
      assert.match(page.html, /Not found/);
    });
  }

  it('still answers 200 for its owner, with a well-formed id (control for the 404s above)', async () => {
    const page = await ada.client.get(`/tablos/${adaTablo}`);
    assert.equal(page.status, 200);
    assert.equal(h1(page.html), 'Secret plans of Ada');
  });

  it('sends a signed-out visitor to sign in with next, and answers 401 to htmx', async () => {
    const stranger = new Client(app.url);
    const page = await stranger.get(`/tablos/${adaTablo}`);
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), `/login?next=%2Ftablos%2F${adaTablo}`);
    const fragment = await stranger.get(`/tablos/${adaTablo}`, { 'HX-Request': 'true' });
    assert.equal(fragment.status, 401);
    assert.doesNotMatch(fragment.html, /Secret plans/);
  });

  it('answers 404 for paths that do not exist', async () => {
    const page = await ada.client.get('/no-such-page');
    assert.equal(page.status, 404);
    assert.match(page.html, /Not found/);
  });
});
