import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, type Person, registerPerson } from './support/client.ts';

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

const PASSWORD = 'long enough password';
let unique = 0;
const freshEmail = (label = 'person') => `${label}.${process.pid}.${++unique}@example.test`;

/** The text of the page's alert (login failures), if any. */
const alertOf = (html: string) => /<p class="alert" role="alert">([^<]*)<\/p>/.exec(html)?.[1];
/** The text of a field's error on the registration form, if any. */
const fieldError = (html: string, field: string) => new RegExp(`<p class="field-error" id="${field}-error">([^<]*)</p>`).exec(html)?.[1];

async function isSignedIn(client: Client): Promise<boolean> {
  const response = await client.get('/tablos');
  if (response.status === 200) return true;
  assert.equal(response.status, 303);
  assert.equal(response.headers.get('location'), '/login?next=%2Ftablos');
  return false;
}

/** A fresh browser that signs in through the real form; answers the POST's response. */
async function signIn(email: string, password: string, extra: Record<string, string> = {}) {
  const client = new Client(app.url);
  const page = await client.get('/login');
  assert.equal(page.status, 200);
  const response = await client.post('/login', { email, password, ...extra });
  return Object.assign(response, { client });
}

async function register(fields: Record<string, string>) {
  const client = new Client(app.url);
  await client.get('/register');
  const response = await client.post('/register', fields);
  return Object.assign(response, { client });
}

describe('GET /', () => {
  it('sends a signed-out visitor to /login', async () => {
    const response = await new Client(app.url).get('/');
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/login');
  });

  it('sends a signed-in person to /tablos', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    const response = await ada.client.get('/');
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/tablos');
  });
});

describe('registration', () => {
  it('shows the form', async () => {
    const page = await new Client(app.url).get('/register');
    assert.equal(page.status, 200);
    assert.match(page.html, /<form id="register"[^>]*method="post"[^>]*action="\/register"/);
    for (const field of ['_csrf', 'email', 'name', 'password']) assert.match(page.html, new RegExp(`name="${field}"`));
    assert.match(page.html, /<meta name="csrf-token" content="[^"]+">/);
  });

  it('creates an account, signs in and redirects to /tablos', async () => {
    const client = new Client(app.url);
    await client.get('/register');
    const response = await client.post('/register', { email: freshEmail('New.Person'), name: 'New Person', password: PASSWORD });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/tablos');
    const tablos = await client.get('/tablos');
    assert.equal(tablos.status, 200);
    assert.match(tablos.html, /New Person/);
    assert.match(tablos.html, /<meta name="current-user-id" content="\d+">/);
  });

  it('stores the email case-insensitively: signing in with another case works', async () => {
    const email = freshEmail('Mixed.Case');
    const created = await register({ email: email.toUpperCase(), name: 'Mixed', password: PASSWORD });
    assert.equal(created.status, 303);
    const response = await signIn(`  ${email.toLowerCase()} `, PASSWORD);
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/tablos');
  });

  it('accepts a name of exactly 80 characters, emoji counted as one each', async () => {
    const response = await register({ email: freshEmail(), name: '🦊'.repeat(80), password: PASSWORD });
    assert.equal(response.status, 303, response.html.slice(0, 500));
    const page = await response.client.get('/tablos');
    assert.ok(page.html.includes('🦊'.repeat(80)));
  });

  const invalid: Array<{ what: string; field: string; fields: () => Record<string, string> }> = [
    { what: 'a malformed email', field: 'email', fields: () => ({ email: 'not-an-email', name: 'Bad Email', password: PASSWORD }) },
    { what: 'an empty email', field: 'email', fields: () => ({ email: '', name: 'No Email', password: PASSWORD }) },
    { what: 'an empty name', field: 'name', fields: () => ({ email: freshEmail(), name: '', password: PASSWORD }) },
    { what: 'a blank name', field: 'name', fields: () => ({ email: freshEmail(), name: '   ', password: PASSWORD }) },
    { what: 'a name of 81 characters', field: 'name', fields: () => ({ email: freshEmail(), name: 'n'.repeat(81), password: PASSWORD }) },
    { what: 'a password of 7 characters', field: 'password', fields: () => ({ email: freshEmail(), name: 'Short', password: '1234567' }) },
    { what: 'a name with a NUL byte', field: 'name', fields: () => ({ email: freshEmail(), name: 'Nul\u0000Name', password: PASSWORD }) },
  ];
  for (const { what, field, fields } of invalid) {
    it(`answers 422 with a readable message for ${what}, and stores nothing`, async () => {
      const sent = fields();
      const response = await register(sent);
      assert.equal(response.status, 422);
      assert.match(response.html, /<form id="register"/);
      const message = fieldError(response.html, field);
      assert.ok(message && message.length > 5, `expected a message for ${field}`);
      assert.ok(!response.html.includes(sent.password!), 'the password is never echoed back');
      assert.equal(await isSignedIn(response.client), false);
      // Nothing was stored: the same email can still register (when it is valid at all).
      if (field !== 'email') {
        const retry = await register({ email: sent.email!, name: 'Valid Name', password: PASSWORD });
        assert.equal(retry.status, 303);
      }
    });
  }

  it('keeps what was typed (but not the password) when re-rendering the form', async () => {
    const email = freshEmail('kept');
    const response = await register({ email, name: 'Kept Name', password: 'short' });
    assert.equal(response.status, 422);
    assert.match(response.html, new RegExp(`name="email" value="${email.replaceAll('.', '\\.')}"`));
    assert.match(response.html, /name="name" value="Kept Name"/);
  });

  it('answers 422 when the email is taken, whatever its case, and leaves the first account alone', async () => {
    const email = freshEmail('taken');
    const first = await register({ email, name: 'First', password: PASSWORD });
    assert.equal(first.status, 303);

    const second = await register({ email: email.toUpperCase(), name: 'Second', password: 'another password' });
    assert.equal(second.status, 422);
    assert.match(fieldError(second.html, 'email') ?? '', /already/i);
    assert.equal(await isSignedIn(second.client), false);

    assert.equal((await signIn(email, 'another password')).status, 401);
    const original = await signIn(email, PASSWORD);
    assert.equal(original.status, 303);
    const page = await original.client.get('/tablos');
    assert.match(page.html, /First/);
    assert.doesNotMatch(page.html, /Second/);
  });

  it('lets exactly one of two simultaneous sign-ups with the same email through', async () => {
    const email = freshEmail('race');
    const results = await Promise.all([
      register({ email, name: 'Racer One', password: PASSWORD }),
      register({ email: email.toUpperCase(), name: 'Racer Two', password: PASSWORD }),
    ]);
    assert.deepEqual(results.map((r) => r.status).sort(), [303, 422]);
  });
});

describe('sign in', () => {
  let ada: Person;
  before(async () => {
    ada = await registerPerson(app.url, 'Ada');
  });

  it('shows the form', async () => {
    const page = await new Client(app.url).get('/login');
    assert.equal(page.status, 200);
    assert.match(page.html, /<form id="login"[^>]*method="post"[^>]*action="\/login"/);
    for (const field of ['_csrf', 'email', 'password']) assert.match(page.html, new RegExp(`name="${field}"`));
  });

  it('signs in and redirects to /tablos', async () => {
    const response = await signIn(ada.email, ada.password);
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/tablos');
    assert.equal(await isSignedIn(response.client), true);
  });

  it('goes back to the page that asked for sign-in (next)', async () => {
    const tablo = await ada.client.post('/tablos', { title: 'Where I was' });
    const path = tablo.headers.get('location')!;
    assert.match(path, /^\/tablos\/\d+\/discussion$/);

    const client = new Client(app.url);
    const bounced = await client.get(path);
    assert.equal(bounced.status, 303);
    const loginUrl = bounced.headers.get('location')!;
    assert.equal(loginUrl, `/login?next=${encodeURIComponent(path)}`);
    const form = await client.get(loginUrl);
    assert.match(form.html, new RegExp(`<input type="hidden" name="next" value="${path}">`));
    const response = await client.post('/login', { email: ada.email, password: ada.password, next: path });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), path);
    assert.equal((await client.get(path)).status, 200);
  });

  it('keeps a same-site next with a query string', async () => {
    const response = await signIn(ada.email, ada.password, { next: '/tablos?x=1' });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/tablos?x=1');
  });

  for (const next of ['//evil.example', 'https://evil.example', '/\\evil.example', '\\\\evil.example', 'javascript:alert(1)', '/\t/evil.example', 'evil.example']) {
    it(`ignores an unsafe next ${JSON.stringify(next)} and goes to /tablos`, async () => {
      const response = await signIn(ada.email, ada.password, { next });
      assert.equal(response.status, 303);
      assert.equal(response.headers.get('location'), '/tablos');
    });
  }

  it('does not carry an unsafe next from the query into the form', async () => {
    const page = await new Client(app.url).get(`/login?next=${encodeURIComponent('//evil.example')}`);
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.html, /evil\.example/);
  });

  it('answers 401 with the same generic message for an unknown email and a wrong password', async () => {
    const client = new Client(app.url);
    await client.get('/login');
    const unknownEmail = freshEmail('nobody');
    const unknown = await client.post('/login', { email: unknownEmail, password: ada.password });
    const wrong = await client.post('/login', { email: ada.email, password: 'wrong password!' });
    assert.equal(unknown.status, 401);
    assert.equal(wrong.status, 401);
    const message = alertOf(unknown.html);
    assert.ok(message && message.length > 10);
    assert.equal(alertOf(wrong.html), message);
    // Apart from the email typed in, the two answers are the very same page.
    assert.equal(unknown.html.replaceAll(unknownEmail, 'EMAIL'), wrong.html.replaceAll(ada.email, 'EMAIL'));
    assert.match(unknown.html, /<form id="login"/);
    assert.equal(await isSignedIn(client), false);
  });

  it('answers 401 (not an error) for missing fields and odd input', async () => {
    const client = new Client(app.url);
    await client.get('/login');
    const attempts: Record<string, string>[] = [{}, { email: ada.email }, { email: 'nul\u0000@example.test', password: 'whatever1' }];
    for (const fields of attempts) {
      const response = await client.post('/login', fields);
      assert.equal(response.status, 401, JSON.stringify(fields));
      assert.ok(alertOf(response.html));
    }
  });

  // Signed-out pages start no session (nothing is stored for a visit), so the session an attacker
  // could plant in a victim's browser is one of their own: signing in must not keep it.
  it('gives a new session id at sign-in; a planted session grants nothing', async () => {
    const attacker = await registerPerson(app.url, 'Mallory');
    const planted = attacker.client.cookie('tablo.sid')!;
    const client = new Client(app.url);
    client.setCookie('tablo.sid', planted);
    await client.get('/login');
    const response = await client.post('/login', { email: ada.email, password: ada.password });
    assert.equal(response.status, 303);
    const afterLogin = client.cookie('tablo.sid');
    assert.ok(afterLogin);
    assert.notEqual(afterLogin, planted);
    const page = await client.get('/tablos');
    assert.equal(page.status, 200);
    assert.match(page.html, new RegExp(`<meta name="current-user-id" content="${ada.id}"`));
    // The planted session ended with the sign-in: its cookie reaches nobody's account.
    assert.equal(await isSignedIn(attacker.client), false);
  });

  it('gives a new session id at registration too', async () => {
    const attacker = await registerPerson(app.url, 'Mallory');
    const planted = attacker.client.cookie('tablo.sid')!;
    const client = new Client(app.url);
    client.setCookie('tablo.sid', planted);
    await client.get('/register');
    const response = await client.post('/register', { email: freshEmail(), name: 'Fixed', password: PASSWORD });
    assert.equal(response.status, 303);
    assert.notEqual(client.cookie('tablo.sid'), planted);
    assert.equal(await isSignedIn(client), true);
    assert.equal(await isSignedIn(attacker.client), false);
  });

  it('does not accept the pre-sign-in CSRF token afterwards', async () => {
    const client = new Client(app.url);
    await client.get('/login');
    const oldToken = client.csrfToken!;
    await client.post('/login', { email: ada.email, password: ada.password });
    const response = await client.post('/tablos', { title: 'With a stale token', _csrf: oldToken });
    assert.equal(response.status, 403);
  });
});

describe('sign-in rate limit', () => {
  it('allows 10 failures per email, then answers 429 with Retry-After; successes do not count', async () => {
    const person = await registerPerson(app.url, 'Limited');
    const client = new Client(app.url);
    await client.get('/login');
    const fail = (email = person.email) => client.post('/login', { email, password: 'not the password' });

    for (let i = 0; i < 6; i++) assert.equal((await fail()).status, 401, `failure ${i + 1}`);
    // Successful sign-ins in between do not use up the allowance.
    for (let i = 0; i < 3; i++) assert.equal((await signIn(person.email, person.password)).status, 303);
    // The email is one key whatever its case.
    for (let i = 6; i < 10; i++) assert.equal((await fail(i % 2 ? person.email.toUpperCase() : person.email)).status, 401, `failure ${i + 1}`);

    const limited = await fail();
    assert.equal(limited.status, 429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    assert.ok(Number.isInteger(retryAfter) && retryAfter > 0 && retryAfter <= 15 * 60, `Retry-After: ${limited.headers.get('retry-after')}`);
    assert.match(limited.html, /<form id="login"/);
    assert.ok(alertOf(limited.html));
    assert.equal((await fail(person.email.toUpperCase())).status, 429);

    // Another email from the same address is not locked out.
    const other = await registerPerson(app.url, 'Other');
    assert.equal((await signIn(other.email, other.password)).status, 303);
    assert.equal((await fail(other.email)).status, 401);
  });
});

describe('sign out', () => {
  it('destroys the session and redirects to /login', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    const oldCookie = ada.client.cookie('tablo.sid')!;
    await ada.client.get('/tablos');
    const response = await ada.client.post('/logout');
    assert.equal(response.status, 303);
    assert.equal(response.headers.get('location'), '/login');
    assert.equal(await isSignedIn(ada.client), false);

    // Replaying the old cookie does not bring the session back.
    const replay = new Client(app.url);
    replay.setCookie('tablo.sid', oldCookie);
    const page = await replay.get('/tablos');
    assert.equal(page.status, 303);
    assert.equal(page.headers.get('location'), '/login?next=%2Ftablos');

    // Signing in again works.
    assert.equal((await signIn(ada.email, ada.password)).status, 303);
  });
});
