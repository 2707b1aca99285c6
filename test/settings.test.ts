/**
 * Settings: the page, a password change that ends every other session (and their streams, on
 * every instance), the sessions page, and handles (made at registration, unique, changeable).
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { Migrator, sql } from 'kysely';
import pg from 'pg';
import { migrations } from '../migrations/index.ts';
import { createDatabase } from '../src/db/database.ts';
import { migrateToLatest } from '../src/db/migrate.ts';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import { createTestDatabase } from './support/database.ts';
import { elementById } from './support/discussion.ts';
import { htmx, listedMembers, openEvents, tabloWith } from './support/members.ts';
import { openStream, type SseStream, type StreamEnd } from './support/sse.ts';

const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const NEW_PASSWORD = 'a brand new passphrase';

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

/** Streams opened by a test, closed when it ends whatever happens. */
const open: SseStream[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

async function discussionStream(client: Client, tabloId: number): Promise<SseStream> {
  const s = await openStream(client, tabloId);
  open.push(s);
  assert.equal(s.status, 200, 'the discussion stream opens');
  await s.waitFor((x) => x.retries.length > 0, 10_000, 'the stream’s opening');
  return s;
}

async function personalStream(client: Client): Promise<SseStream> {
  const s = await openEvents(client);
  open.push(s);
  assert.equal(s.status, 200, 'the /events stream opens');
  await s.waitFor((x) => x.opening.length > 0, 10_000, 'the stream’s opening');
  return s;
}

async function endOf(s: SseStream, timeoutMs = 10_000): Promise<StreamEnd> {
  await s.waitFor((x) => x.endedAs !== undefined, timeoutMs, 'the stream to end');
  return s.endedAs!;
}

/** Another browser signed in as the same person (a second session). */
async function anotherSession(person: Person, baseUrl = app.url, userAgent?: string): Promise<Client> {
  const client = new Client(baseUrl);
  await client.get('/login');
  const headers: Record<string, string> = userAgent ? { 'User-Agent': userAgent } : {};
  const response = await client.post('/login', { email: person.email, password: person.password }, headers);
  assert.equal(response.status, 303, `signing in again answered ${response.status}`);
  return client;
}

async function isSignedIn(client: Client): Promise<boolean> {
  const page = await client.get('/tablos');
  if (page.status === 200) return true;
  assert.equal(page.status, 303);
  assert.match(page.headers.get('location') ?? '', /^\/login\?next=/);
  return false;
}

async function signInAnswers(baseUrl: string, email: string, password: string): Promise<number> {
  const client = new Client(baseUrl);
  await client.get('/login');
  return (await client.post('/login', { email, password })).status;
}

/** The session id inside a client's cookie (`s:<id>.<signature>`, URL-encoded). */
function sessionIdOf(client: Client): string {
  const cookie = decodeURIComponent(client.cookie('tablo.sid') ?? '');
  assert.match(cookie, /^s:[^.]+\./);
  return cookie.slice(2, cookie.indexOf('.'));
}

async function sessionRowsOf(db: TestApp['db'], userId: number): Promise<number> {
  const { rows } = await sql<{ n: string }>`SELECT count(*) AS n FROM sessions WHERE sess ->> 'userId' = ${String(userId)}`.execute(db);
  return Number(rows[0]!.n);
}

async function changePassword(person: Person, fields: Record<string, string>, client = person.client) {
  await client.get('/settings');
  return client.post('/settings/password', fields);
}

const fieldError = (html: string, id: string) => new RegExp(`<p class="field-error" id="${id}"[^>]*>([^<]*)</p>`).exec(html)?.[1];

/** The `li.session` items of the sessions page, with their key and whether each is this one. */
function listedSessions(html: string): { key: string; current: boolean; text: string }[] {
  return [...html.matchAll(/<li class="session( session-current)?" data-session="([^"]+)">([\s\S]*?)<\/li>/g)].map((m) => ({
    key: m[2]!,
    current: Boolean(m[1]),
    text: m[3]!.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim(),
  }));
}

async function handleOf(person: Person): Promise<string> {
  const page = await person.client.get('/settings');
  assert.equal(page.status, 200);
  const handle = /<strong id="current-handle">@([^<]+)<\/strong>/.exec(page.html)?.[1];
  assert.ok(handle, 'the settings page shows the handle');
  return handle;
}

async function register(name: string, email: string): Promise<Person> {
  const client = new Client(app.url);
  await client.get('/register');
  const password = 'correct horse battery';
  const response = await client.post('/register', { email, name, password });
  assert.equal(response.status, 303, `registering ${name}: ${response.status}`);
  const page = await client.get('/tablos');
  const id = Number(/<meta name="current-user-id" content="(\d+)"/.exec(page.html)?.[1]);
  return { client, id, email, name, password };
}

let emails = 0;
const email = (local = 'someone') => `${local}+${process.pid}.${++emails}@example.test`;

describe('the settings page', () => {
  it('is linked from the header of every signed-in page', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    const tablo = await createTablo(ada, 'Linked');
    for (const path of ['/tablos', `/tablos/${tablo}`, `/tablos/${tablo}/discussion`, '/settings', '/settings/sessions']) {
      const page = await ada.client.get(path);
      assert.equal(page.status, 200, path);
      assert.match(page.html, /<header class="topbar">[\s\S]*<a href="\/settings"[^>]*>Settings<\/a>[\s\S]*<\/header>/, path);
    }
  });

  it('shows the name, email and handle, the forms, and a link to the sessions', async () => {
    const ada = await registerPerson(app.url, 'Ada Settings');
    const page = await ada.client.get('/settings');
    assert.equal(page.status, 200);
    assert.match(page.html, /Ada Settings/);
    assert.ok(page.html.includes(ada.email));
    assert.match(page.html, /<strong id="current-handle">@ada-settings\d*<\/strong>/);
    for (const form of ['change-name', 'change-handle', 'change-password']) assert.match(page.html, new RegExp(`<form id="${form}"`));
    for (const field of ['name', 'handle', 'current_password', 'new_password']) assert.match(page.html, new RegExp(`name="${field}"`));
    assert.match(page.html, /<a href="\/settings\/sessions"/);
  });

  it('sends a signed-out visitor to sign in, and answers 401 to htmx', async () => {
    const visitor = new Client(app.url);
    for (const path of ['/settings', '/settings/sessions']) {
      const page = await visitor.get(path);
      assert.equal(page.status, 303);
      assert.equal(page.headers.get('location'), `/login?next=${encodeURIComponent(path)}`);
      assert.equal((await visitor.get(path, { 'HX-Request': 'true' })).status, 401);
    }
  });

  it('changes the name (plain form and htmx), and refuses a blank one with 422', async () => {
    const ada = await registerPerson(app.url, 'Ada Renamed');
    await ada.client.get('/settings');
    const saved = await ada.client.post('/settings/name', { name: '  Ada King  ' });
    assert.equal(saved.status, 303);
    assert.equal(saved.headers.get('location'), '/settings?saved=name');
    const page = await ada.client.get('/settings?saved=name');
    assert.match(page.html, /<span class="who" id="account-name"[^>]*>Ada King<\/span>/);
    assert.match(page.html, /role="status">Your name is saved\./);

    const blank = await ada.client.post('/settings/name', { name: '   ' });
    assert.equal(blank.status, 422);
    assert.equal(fieldError(blank.html, 'name-error'), 'Enter your name.');

    const viaHtmx = await ada.client.post('/settings/name', { name: 'Ada Byron' }, htmx(ada));
    assert.equal(viaHtmx.status, 200);
    assert.match(viaHtmx.html, /^<section[^>]*id="profile"/);
    assert.match(viaHtmx.html, /<span class="who" id="account-name" hx-swap-oob="outerHTML"[^>]*>Ada Byron<\/span>/);
    const invalid = await ada.client.post('/settings/name', { name: 'x'.repeat(81) }, htmx(ada));
    assert.equal(invalid.status, 422);
    assert.match(invalid.html, /^<section[^>]*id="profile"/);
    assert.match((await ada.client.get('/settings')).html, /id="account-name"[^>]*>Ada Byron</);
  });
});

describe('changing the password', () => {
  it('ends every other session and closes its streams, and keeps this one signed in', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    const tablo = await createTablo(ada, 'Password change');
    const second = await anotherSession(ada);
    const third = await anotherSession(ada);
    const secondDiscussion = await discussionStream(second, tablo);
    const secondEvents = await personalStream(second);
    const thirdEvents = await personalStream(third);
    const ownDiscussion = await discussionStream(ada.client, tablo);
    const oldToken = (await ada.client.get('/settings')).html.match(/<meta name="csrf-token" content="([^"]+)">/)![1]!;
    const oldSessionId = sessionIdOf(ada.client);
    assert.equal(await sessionRowsOf(app.db, ada.id), 3);

    const started = Date.now();
    const changed = await ada.client.post('/settings/password', { current_password: ada.password, new_password: NEW_PASSWORD });
    assert.equal(changed.status, 303);
    assert.equal(changed.headers.get('location'), '/settings?saved=password');

    for (const s of [secondDiscussion, secondEvents, thirdEvents]) {
      assert.equal(await endOf(s), 'ended', s.describe());
      assert.equal(s.events.at(-1)?.type, 'signed-out', s.describe());
    }
    const closedWithin = Date.now() - started;
    assert.ok(closedWithin < 10_000, `streams closed within 10 s (${closedWithin} ms)`);
    assert.equal(await isSignedIn(second), false, 'the second session is signed out');
    assert.equal(await isSignedIn(third), false, 'the third session is signed out');

    // This session goes on under a new id: its own stream ends without "signed-out" (the page
    // reconnects with the new cookie), and the old CSRF token no longer works.
    assert.equal(await endOf(ownDiscussion), 'ended');
    assert.ok(!ownDiscussion.events.some((e) => e.type === 'signed-out'), ownDiscussion.describe());
    assert.notEqual(sessionIdOf(ada.client), oldSessionId, 'the session id is renewed');
    const note = await ada.client.get('/settings?saved=password');
    assert.equal(note.status, 200, 'this session is still signed in');
    assert.match(note.html, /role="status">Your password is changed/);
    assert.notEqual(ada.client.csrfToken, oldToken, 'the CSRF token is renewed');
    assert.equal((await ada.client.post('/settings/name', { name: 'Stale', _csrf: oldToken })).status, 403);
    await discussionStream(ada.client, tablo);
    assert.equal(await sessionRowsOf(app.db, ada.id), 1);

    assert.equal(await signInAnswers(app.url, ada.email, ada.password), 401, 'the old password no longer signs in');
    assert.equal(await signInAnswers(app.url, ada.email, NEW_PASSWORD), 303, 'the new one does');
  });

  it('refuses a wrong current password with 422, and changes nothing', async () => {
    const bob = await registerPerson(app.url, 'Bob');
    const second = await anotherSession(bob);
    const secondEvents = await personalStream(second);
    const cookie = bob.client.cookie('tablo.sid');
    const wrong = await changePassword(bob, { current_password: 'not my password', new_password: NEW_PASSWORD });
    assert.equal(wrong.status, 422);
    assert.equal(fieldError(wrong.html, 'current-password-error'), 'That is not your current password.');
    assert.equal(bob.client.cookie('tablo.sid'), cookie, 'this session keeps its id');
    assert.equal(await isSignedIn(second), true, 'the other session is still signed in');
    assert.equal(secondEvents.endedAs, undefined, 'its stream is still open');
    assert.equal(await signInAnswers(app.url, bob.email, bob.password), 303, 'the password is unchanged');
    assert.equal(await signInAnswers(app.url, bob.email, NEW_PASSWORD), 401);
  });

  it('refuses a new password that is too short or too long with 422', async () => {
    const cat = await registerPerson(app.url, 'Cat');
    const second = await anotherSession(cat);
    for (const new_password of ['short', 'x'.repeat(1025)]) {
      const response = await changePassword(cat, { current_password: cat.password, new_password });
      assert.equal(response.status, 422, `new password of ${new_password.length}`);
      assert.ok(fieldError(response.html, 'new-password-error'), 'says what is wrong');
    }
    assert.equal(await isSignedIn(second), true);
    assert.equal(await signInAnswers(app.url, cat.email, cat.password), 303, 'the password is unchanged');
  });

  it('refuses a POST without the CSRF token with 403, and changes nothing', async () => {
    const dan = await registerPerson(app.url, 'Dan');
    const second = await anotherSession(dan);
    await dan.client.get('/settings');
    const forged = await dan.client.post('/settings/password', { current_password: dan.password, new_password: NEW_PASSWORD, _csrf: '' });
    assert.equal(forged.status, 403);
    assert.equal(await isSignedIn(second), true);
    assert.equal(await signInAnswers(app.url, dan.email, NEW_PASSWORD), 401, 'the password is unchanged');
  });

  it('with htmx, sends the page to /settings to load the renewed token', async () => {
    const eve = await registerPerson(app.url, 'Eve');
    await eve.client.get('/settings');
    const response = await eve.client.post('/settings/password', { current_password: eve.password, new_password: NEW_PASSWORD }, htmx(eve));
    assert.equal(response.status, 204);
    assert.equal(response.headers.get('HX-Redirect'), '/settings?saved=password');
    assert.equal(await isSignedIn(eve.client), true);
  });
});

describe('the sessions page', () => {
  it('lists the person’s sessions as li.session, this one marked, and shows no session id', async () => {
    const ada = await registerPerson(app.url, 'Ada Sessions');
    const firefox = await anotherSession(ada, app.url, FIREFOX);
    const someoneElse = await registerPerson(app.url, 'Not Ada');

    const page = await ada.client.get('/settings/sessions');
    assert.equal(page.status, 200);
    const sessions = listedSessions(page.html);
    assert.equal(sessions.length, 2, 'two sessions, not the other person’s');
    assert.deepEqual(sessions.map((s) => s.current), [true, false], 'this one first');
    assert.match(sessions[1]!.text, /Firefox 128 on Linux/);
    assert.match(sessions[1]!.text, /127\.0\.0\.1/);
    assert.match(page.html, /<time datetime="\d{4}-\d\d-\d\dT/);
    for (const client of [ada.client, firefox, someoneElse.client]) {
      const id = sessionIdOf(client);
      assert.ok(!page.html.includes(id), 'no session id in the page');
      assert.ok(!page.html.includes(encodeURIComponent(id)), 'not even encoded');
    }
  });

  it('signs out all other sessions, closing their streams, and keeps this one', async () => {
    const bob = await registerPerson(app.url, 'Bob Revokes');
    const tablo = await createTablo(bob, 'Revoking');
    const second = await anotherSession(bob);
    const third = await anotherSession(bob);
    const secondStream = await discussionStream(second, tablo);
    const thirdEvents = await personalStream(third);
    const ownStream = await discussionStream(bob.client, tablo);

    await bob.client.get('/settings/sessions');
    const revoked = await bob.client.post('/settings/sessions/others/revoke');
    assert.equal(revoked.status, 303);
    assert.equal(revoked.headers.get('location'), '/settings/sessions?ended=2');
    for (const s of [secondStream, thirdEvents]) {
      assert.equal(await endOf(s), 'ended');
      assert.equal(s.events.at(-1)?.type, 'signed-out', s.describe());
    }
    assert.equal(await isSignedIn(second), false);
    assert.equal(await isSignedIn(third), false);
    const page = await bob.client.get('/settings/sessions?ended=2');
    assert.equal(listedSessions(page.html).length, 1);
    assert.match(page.html, /2 sessions are signed out/);
    assert.equal(ownStream.endedAs, undefined, 'this session’s stream stays open');

    // Without a CSRF token nothing happens.
    const fourth = await anotherSession(bob);
    assert.equal((await bob.client.post('/settings/sessions/others/revoke', { _csrf: '' })).status, 403);
    assert.equal(await isSignedIn(fourth), true);
  });

  it('signs out one session by its key (htmx too); its own key or an unknown one is 404', async () => {
    const cat = await registerPerson(app.url, 'Cat Revokes One');
    const leaving = await anotherSession(cat, app.url, FIREFOX);
    const staying = await anotherSession(cat);
    const leavingEvents = await personalStream(leaving);
    const stranger = await registerPerson(app.url, 'Stranger');
    const strangersKey = listedSessions((await stranger.client.get('/settings/sessions')).html)[0]!.key;

    const sessions = listedSessions((await cat.client.get('/settings/sessions')).html);
    assert.equal(sessions.length, 3);
    const firefoxKey = sessions.find((s) => s.text.includes('Firefox'))!.key;
    const ownKey = sessions.find((s) => s.current)!.key;

    const answer = await cat.client.post(`/settings/sessions/${firefoxKey}/revoke`, {}, htmx(cat));
    assert.equal(answer.status, 200);
    assert.match(answer.html, /^<section id="session-section"/);
    assert.equal(listedSessions(answer.html).length, 2);
    assert.equal(await endOf(leavingEvents), 'ended');
    assert.equal(leavingEvents.events.at(-1)?.type, 'signed-out');
    assert.equal(await isSignedIn(leaving), false);
    assert.equal(await isSignedIn(staying), true);

    for (const key of [ownKey, strangersKey, firefoxKey, 'not-a-key']) {
      assert.equal((await cat.client.post(`/settings/sessions/${key}/revoke`)).status, 404, key);
    }
    assert.equal(await isSignedIn(cat.client), true);
    assert.equal(await isSignedIn(stranger.client), true);
  });
});

describe('handles', () => {
  it('are made from the name at registration: ASCII, lower-case, spaces to dashes, accents stripped', async () => {
    const cases: [string, string][] = [
      ['Grace Hopper', 'grace-hopper'],
      ['Zoé Ñúñez', 'zoe-nunez'],
      ['  Jürgen   Groß ', 'jurgen-gross'],
      ["Seán O'Brien", 'sean-obrien'],
      ['Борис', 'boris'],
    ];
    for (const [name, expected] of cases) {
      const person = await register(name, email());
      assert.equal(await handleOf(person), expected, name);
    }
  });

  it('come from the email’s local part when the name gives nothing', async () => {
    const person = await register('!!!', `first.last+${process.pid}@example.test`);
    assert.equal(await handleOf(person), 'first-last');
  });

  it('are unique: a taken one gets a number, whatever the case', async () => {
    const first = await register('Alan Turing', email());
    const second = await register('Alan Turing', email());
    const third = await register('ALAN turing', email());
    assert.deepEqual([await handleOf(first), await handleOf(second), await handleOf(third)], ['alan-turing', 'alan-turing2', 'alan-turing3']);
  });

  it('stay unique when registrations race for the same one', async () => {
    const people = await Promise.all(Array.from({ length: 6 }, () => register('Race Car', email())));
    const handles = await Promise.all(people.map(handleOf));
    assert.deepEqual([...handles].sort(), ['race-car', 'race-car2', 'race-car3', 'race-car4', 'race-car5', 'race-car6']);
  });

  it('never make "all", which is reserved', async () => {
    const all = await register('All', email());
    assert.equal(await handleOf(all), 'all2');
    for (const handle of ['all', 'ALL', '@all']) {
      const response = await all.client.post('/settings/handle', { handle });
      assert.equal(response.status, 422, handle);
      assert.match(fieldError(response.html, 'handle-error') ?? '', /reserved/);
    }
  });

  it('change in settings; a taken, invalid or reserved one is 422 and changes nothing', async () => {
    const ada = await register('Ada Handle', email());
    const bob = await register('Bob Handle', email());
    await ada.client.get('/settings');
    const saved = await ada.client.post('/settings/handle', { handle: '@Countess_of-Lovelace' });
    assert.equal(saved.status, 303);
    assert.equal(saved.headers.get('location'), '/settings?saved=handle');
    assert.equal(await handleOf(ada), 'Countess_of-Lovelace', 'kept as typed, without the @');

    await bob.client.get('/settings');
    for (const [handle, why] of [
      ['countess_of-LOVELACE', /taken/],
      ['has space', /letters, digits/],
      ['zoé', /letters, digits/],
      ['x'.repeat(31), /30 characters/],
      ['', /Choose a handle/],
    ] as const) {
      const refused = await bob.client.post('/settings/handle', { handle });
      assert.equal(refused.status, 422, handle);
      assert.match(fieldError(refused.html, 'handle-error') ?? '', why, handle);
    }
    assert.equal(await handleOf(bob), 'bob-handle');

    // A new registration steers clear of the changed handle, whatever its case.
    const again = await register('Countess of Lovelace', email());
    assert.equal(await handleOf(again), 'countess-of-lovelace', 'dashes and underscores differ');
    const clash = await register('Countess_of Lovelace', email());
    assert.equal(await handleOf(clash), 'countess_of-lovelace2');

    // htmx: the profile section, with the error or the new handle.
    const taken = await bob.client.post('/settings/handle', { handle: 'ada-handle' }, htmx(bob));
    assert.equal(taken.status, 200, 'ada-handle is free again');
    assert.match(taken.html, /<strong id="current-handle">@ada-handle<\/strong>/);
    const clashing = await bob.client.post('/settings/handle', { handle: 'alan-turing' }, htmx(bob));
    assert.equal(clashing.status, 422);
    assert.match(clashing.html, /^<section[^>]*id="profile"[\s\S]*@alan-turing is taken/);
  });

  it('show in member lists as data-handle and @handle, and follow a change', async () => {
    const owner = await register('Member Owner', email());
    const member = await register('Member Two', email());
    const tablo = await tabloWith(owner, 'Handles listed', member);
    const list = elementById((await member.client.get(`/tablos/${tablo}`)).html, 'members')!.inner;
    assert.deepEqual(listedMembers(`<ul id="members">${list}</ul>`).sort(), [owner.id, member.id].sort());
    for (const person of [owner, member]) {
      const handle = await handleOf(person);
      assert.match(list, new RegExp(`<li data-user-id="${person.id}" data-handle="${handle}">[\\s\\S]*?@${handle}<`));
    }
    const events = await personalStream(owner.client);
    await member.client.get('/settings');
    assert.equal((await member.client.post('/settings/handle', { handle: 'second' })).status, 303);
    await events.waitFor((s) => s.events.some((e) => e.type === 'members'), 10_000, 'a members event');
    const fragment = await owner.client.get(`/tablos/${tablo}/members`, { 'HX-Request': 'true' });
    assert.match(fragment.html, new RegExp(`<li data-user-id="${member.id}" data-handle="second">`));
  });
});

describe('migration 004 on existing accounts', () => {
  it('gives every existing person a unique handle the way registration would', async () => {
    const database = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: database.url });
    const db = createDatabase(pool);
    try {
      const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
      const upTo3 = await migrator.migrateTo('003_presence');
      assert.equal(upTo3.error, undefined);
      const people = [
        ['Ada Lovelace', 'ada@example.test'],
        ['ada lovelace', 'ada2@example.test'],
        ['All', 'all@example.test'],
        ['Zoé', 'zoe@example.test'],
        ['???', 'only.email@example.test'],
      ];
      for (const [name, mail] of people) {
        await sql`INSERT INTO users (email, name, password_hash) VALUES (${mail}, ${name}, 'x')`.execute(db);
      }
      await sql`INSERT INTO sessions (sid, sess, expire) VALUES ('kept', '{"userId": 1}', now() + interval '1 day')`.execute(db);
      await migrateToLatest(db);
      const { rows } = await sql<{ handle: string }>`SELECT handle FROM users ORDER BY id`.execute(db);
      assert.deepEqual(rows.map((r) => r.handle), ['ada-lovelace', 'ada-lovelace2', 'all2', 'zoe', 'only-email']);
      await assert.rejects(sql`UPDATE users SET handle = 'ADA-LOVELACE' WHERE id = 2`.execute(db), /users_handle_key/);
      await assert.rejects(sql`UPDATE users SET handle = 'all' WHERE id = 2`.execute(db), /users_handle_check/);
      await assert.rejects(sql`INSERT INTO users (email, name, password_hash) VALUES ('x@example.test', 'X', 'x')`.execute(db), /null value/);
      const { rows: sessions } = await sql<{ n: string }>`SELECT count(*) AS n FROM sessions`.execute(db);
      assert.equal(Number(sessions[0]!.n), 1, 'sessions are untouched');
    } finally {
      await db.destroy();
      await database.drop();
    }
  });
});

describe('two instances on the Postgres bus', () => {
  const env = { REALTIME_BUS: 'postgres' };
  let a: TestApp;
  let b: TestApp;
  before(async () => {
    a = await startTestApp({ env });
    b = await startTestApp({ databaseUrl: a.databaseUrl, env });
  });
  after(async () => {
    await b?.stop();
    await a?.close();
  });

  it('a password change on A closes the other session’s streams open on B', async () => {
    const ada = await registerPerson(a.url, 'Ada Instances');
    const tablo = await createTablo(ada, 'Across instances');
    const onB = await anotherSession(ada, b.url);
    const discussion = await discussionStream(onB, tablo);
    const events = await personalStream(onB);
    const ownOnB = new Client(b.url);
    ownOnB.setCookie('tablo.sid', ada.client.cookie('tablo.sid')!);
    const ownEvents = await personalStream(ownOnB);

    const started = Date.now();
    const changed = await changePassword(ada, { current_password: ada.password, new_password: NEW_PASSWORD });
    assert.equal(changed.status, 303);
    for (const s of [discussion, events]) {
      assert.equal(await endOf(s), 'ended', s.describe());
      assert.equal(s.events.at(-1)?.type, 'signed-out', s.describe());
    }
    const closedWithin = Date.now() - started;
    assert.ok(closedWithin < 10_000, `closed on B within 10 s (${closedWithin} ms)`);
    assert.equal(await isSignedIn(onB), false, 'B signs the ended session out too');
    // The session that changed the password goes on under a new id: its old stream on B ends
    // without "signed-out", and the new cookie works on B.
    assert.equal(await endOf(ownEvents), 'ended');
    assert.ok(!ownEvents.events.some((e) => e.type === 'signed-out'), ownEvents.describe());
    ownOnB.setCookie('tablo.sid', ada.client.cookie('tablo.sid')!);
    assert.equal(await isSignedIn(ownOnB), true);
  });
});
