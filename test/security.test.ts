import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(() => app.close());

const PASSWORD = 'long enough password';
let unique = 0;
const freshEmail = (label = 'person') => `${label}.${process.pid}.${++unique}@example.test`;

/** A form POST exactly as given: no `_csrf` added. */
async function rawPost(client: Client, path: string, fields: Record<string, string>, headers: Record<string, string> = {}) {
  const response = await client.request(path, {
    method: 'POST',
    body: new URLSearchParams(fields),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded', ...headers },
  });
  return Object.assign(response, { html: await response.text() });
}

async function isSignedIn(client: Client): Promise<boolean> {
  const response = await client.get('/tablos');
  assert.ok(response.status === 200 || response.status === 303, `status ${response.status}`);
  return response.status === 200;
}

async function canSignIn(email: string, password: string): Promise<boolean> {
  const client = new Client(app.url);
  await client.get('/login');
  const response = await client.post('/login', { email, password });
  assert.ok(response.status === 303 || response.status === 401, `status ${response.status}`);
  return response.status === 303;
}

const listedIds = (html: string) => [...html.matchAll(/<li id="tablo-(\d+)"/g)].map((m) => Number(m[1]));

/** The session cookie's Set-Cookie line, if the response sets it. */
const sessionSetCookie = (response: Response) => response.headers.getSetCookie().find((c) => c.startsWith('tablo.sid='));
/** The CSRF cookie's Set-Cookie line, if the response sets it. */
const csrfSetCookie = (response: Response) => response.headers.getSetCookie().find((c) => c.startsWith('tablo.csrf='));

describe('CSRF', () => {
  // Each case: a missing token (no field, no header), an empty one and a wrong one.
  const badTokens: Array<[string, Record<string, string>]> = [
    ['missing', {}],
    ['empty', { _csrf: '' }],
    ['wrong', { _csrf: 'not-the-token' }],
  ];

  for (const [what, token] of badTokens) {
    it(`refuses POST /register with a ${what} token (403) and creates no account`, async () => {
      const client = new Client(app.url);
      await client.get('/register');
      const email = freshEmail('csrf');
      const response = await rawPost(client, '/register', { email, name: 'Forged', password: PASSWORD, ...token });
      assert.equal(response.status, 403);
      assert.equal(await isSignedIn(client), false);
      assert.equal(await canSignIn(email, PASSWORD), false);
    });

    it(`refuses POST /login with a ${what} token (403) and does not sign in`, async () => {
      const ada = await registerPerson(app.url, 'Ada');
      const client = new Client(app.url);
      await client.get('/login');
      const response = await rawPost(client, '/login', { email: ada.email, password: ada.password, ...token });
      assert.equal(response.status, 403);
      assert.equal(await isSignedIn(client), false);
    });

    it(`refuses POST /logout with a ${what} token (403) and stays signed in`, async () => {
      const ada = await registerPerson(app.url, 'Ada');
      await ada.client.get('/tablos');
      const response = await rawPost(ada.client, '/logout', token);
      assert.equal(response.status, 403);
      assert.equal(await isSignedIn(ada.client), true);
    });

    it(`refuses POST /tablos with a ${what} token (403) and creates no tablo`, async () => {
      const ada = await registerPerson(app.url, 'Ada');
      await ada.client.get('/tablos');
      const response = await rawPost(ada.client, '/tablos', { title: 'Forged tablo', ...token });
      assert.equal(response.status, 403);
      const page = await ada.client.get('/tablos');
      assert.deepEqual(listedIds(page.html), []);
      assert.doesNotMatch(page.html, /Forged tablo/);
    });
  }

  it('refuses a POST from a visitor who never loaded a form (no session at all)', async () => {
    const response = await rawPost(new Client(app.url), '/register', {
      email: freshEmail('nosession'),
      name: 'No Session',
      password: PASSWORD,
      _csrf: 'anything',
    });
    assert.equal(response.status, 403);
  });

  it('refuses another session’s token', async () => {
    const [ada, bob] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob')]);
    await Promise.all([ada.client.get('/tablos'), bob.client.get('/tablos')]);
    assert.notEqual(ada.client.csrfToken, bob.client.csrfToken);
    const response = await rawPost(bob.client, '/tablos', { title: 'Cross-session', _csrf: ada.client.csrfToken! });
    assert.equal(response.status, 403);
    assert.deepEqual(listedIds((await bob.client.get('/tablos')).html), []);
  });

  it('accepts the X-CSRF-Token header instead of the field', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    await ada.client.get('/tablos');
    const token = ada.client.csrfToken!;
    const wrongHeader = await rawPost(ada.client, '/tablos', { title: 'Via header' }, { 'X-CSRF-Token': 'wrong' });
    assert.equal(wrongHeader.status, 403);
    const created = await rawPost(ada.client, '/tablos', { title: 'Via header' }, { 'X-CSRF-Token': token });
    assert.equal(created.status, 303);
    assert.match(created.headers.get('location') ?? '', /^\/tablos\/\d+\/discussion$/);

    const signedOut = await rawPost(ada.client, '/logout', {}, { 'X-CSRF-Token': token });
    assert.equal(signedOut.status, 303);
    assert.equal(await isSignedIn(ada.client), false);
  });

  it('answers an htmx request with a bad token 403 with a short text, not a page', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    await ada.client.get('/tablos');
    const response = await rawPost(ada.client, '/tablos', { title: 'htmx' }, { 'HX-Request': 'true', 'X-CSRF-Token': 'wrong' });
    assert.equal(response.status, 403);
    assert.doesNotMatch(response.html, /<html/);
  });
});

describe('request size', () => {
  it('answers 413 to a POST body over 64 KiB, and stores nothing', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    await ada.client.get('/tablos');
    const response = await ada.client.post('/tablos', { title: 'x'.repeat(70 * 1024) });
    assert.equal(response.status, 413);
    assert.deepEqual(listedIds((await ada.client.get('/tablos')).html), []);
    // Still signed in and working afterwards.
    assert.equal(await isSignedIn(ada.client), true);
  });

  it('answers 413 to an oversized registration', async () => {
    const client = new Client(app.url);
    await client.get('/register');
    const email = freshEmail('huge');
    const response = await client.post('/register', { email, name: 'Huge', password: PASSWORD, padding: 'p'.repeat(65 * 1024) });
    assert.equal(response.status, 413);
    assert.equal(await canSignIn(email, PASSWORD), false);
  });

  it('reads a body just under the limit normally (422 for a too-long title, not 413)', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    await ada.client.get('/tablos');
    const response = await ada.client.post('/tablos', { title: 'x'.repeat(60 * 1024) });
    assert.equal(response.status, 422);
  });
});

describe('escaping', () => {
  const hostile = '<script>alert(1)</script><img src=x onerror=alert(1)>';
  const escaped = '&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;';
  let mallory: Person;
  let tabloId: number;
  before(async () => {
    mallory = await registerPerson(app.url, hostile);
    tabloId = await createTablo(mallory, `T ${hostile}`);
  });

  /** No raw hostile markup; the escaped form is there. */
  function assertEscaped(html: string, where: string) {
    assert.ok(!html.includes('<script>alert'), `raw <script> in ${where}`);
    assert.ok(!html.includes('<img src=x'), `raw <img> in ${where}`);
    assert.ok(html.includes(escaped), `escaped text missing in ${where}`);
  }

  /** Every script on the page is an external file of this site: nothing inline. */
  function assertOnlyOwnScripts(html: string) {
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.ok(scripts.length > 0);
    for (const [, attributes, content] of scripts) {
      assert.match(attributes!, /\bsrc="\/static\//);
      assert.equal(content, '');
    }
  }

  it('escapes a hostile name in the layout and a hostile title on /tablos', async () => {
    const page = await mallory.client.get('/tablos');
    assert.equal(page.status, 200);
    assertEscaped(page.html, '/tablos');
    assert.ok(page.html.includes(`<span class="tablo-title">T ${escaped}</span>`));
    assert.match(page.html, new RegExp(`<span class="who"[^>]*>${escaped.replace(/[()]/g, '\\$&')}</span>`));
    assertOnlyOwnScripts(page.html);
  });

  it('escapes them on the tablo page: h1, page title and member list', async () => {
    const page = await mallory.client.get(`/tablos/${tabloId}`);
    assert.equal(page.status, 200);
    assertEscaped(page.html, `/tablos/${tabloId}`);
    assert.ok(page.html.includes(`<h1>T ${escaped}</h1>`));
    assert.ok(page.html.includes(`<title>T ${escaped} · Tablo</title>`));
    assert.ok(page.html.includes(`<span class="member-name">${escaped}</span>`));
    assertOnlyOwnScripts(page.html);
  });

  it('escapes what is echoed back into forms', async () => {
    const attribute = '"><script>alert(1)</script>';
    const client = new Client(app.url);
    await client.get('/register');
    const registration = await client.post('/register', { email: attribute, name: `${attribute}${'n'.repeat(80)}`, password: 'short' });
    assert.equal(registration.status, 422);
    assert.ok(!registration.html.includes('<script>alert'));
    assert.ok(registration.html.includes('&quot;&gt;&lt;script&gt;'));

    await client.get('/login');
    const login = await client.post('/login', { email: attribute, password: 'whatever1', next: `/${attribute}` });
    assert.equal(login.status, 401);
    assert.ok(!login.html.includes('<script>alert'));
    assert.ok(login.html.includes('&quot;&gt;&lt;script&gt;'));

    const loginPage = await client.get(`/login?next=${encodeURIComponent(`/${attribute}`)}`);
    assert.ok(!loginPage.html.includes('<script>alert'));

    await mallory.client.get('/tablos');
    const tablo = await mallory.client.post('/tablos', { title: `${attribute}${'t'.repeat(120)}` });
    assert.equal(tablo.status, 422);
    assert.ok(!tablo.html.includes('<script>alert'));
    assert.ok(tablo.html.includes('&quot;&gt;&lt;script&gt;'));
  });
});

describe('security headers', () => {
  for (const path of ['/login', '/register', '/tablos', '/no-such-page']) {
    it(`sends a strict Content-Security-Policy on ${path}`, async () => {
      const ada = await registerPerson(app.url, 'Ada');
      const response = await ada.client.get(path);
      const csp = response.headers.get('content-security-policy') ?? '';
      assert.match(csp, /(^|;)\s*script-src 'self'(;|$)/);
      assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
      assert.match(csp, /default-src 'self'/);
      assert.match(csp, /object-src 'none'/);
      assert.match(csp, /frame-ancestors 'none'/);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(response.headers.get('x-powered-by'), null);
    });
  }
});

describe('cookies', () => {
  const expectFlags = (cookie: string | undefined, secure: boolean) => {
    assert.ok(cookie);
    assert.match(cookie, /;\s*HttpOnly/i);
    assert.match(cookie, /;\s*SameSite=Lax/i);
    assert.match(cookie, /;\s*Path=\//i);
    if (secure) assert.match(cookie, /;\s*Secure/i);
    else assert.doesNotMatch(cookie, /;\s*Secure/i);
  };

  /** Signs in through the form with these extra headers; answers the sign-in's response. */
  async function signInVia(url: string, headers: Record<string, string>) {
    const ada = await registerPerson(url, 'Ada');
    const client = new Client(url);
    const page = await client.get('/login', headers);
    const login = await client.post('/login', { email: ada.email, password: ada.password }, headers);
    assert.equal(login.status, 303);
    return { page, login };
  }

  it('are HttpOnly and SameSite=Lax, and not Secure over plain HTTP', async () => {
    const { page, login } = await signInVia(app.url, {});
    assert.equal(sessionSetCookie(page), undefined, 'a signed-out page starts no session');
    expectFlags(csrfSetCookie(page), false);
    expectFlags(sessionSetCookie(login), false);
  });

  it('ignore X-Forwarded-Proto when no proxy is trusted', async () => {
    const { page, login } = await signInVia(app.url, { 'X-Forwarded-Proto': 'https' });
    expectFlags(csrfSetCookie(page), false);
    expectFlags(sessionSetCookie(login), false);
  });

  it('are Secure behind a trusted proxy that says the request came over HTTPS', async () => {
    const proxied = await startTestApp({ env: { TRUST_PROXY: 'true' } });
    try {
      const https = await signInVia(proxied.url, { 'X-Forwarded-Proto': 'https' });
      expectFlags(csrfSetCookie(https.page), true);
      expectFlags(sessionSetCookie(https.login), true);
      const http = await signInVia(proxied.url, { 'X-Forwarded-Proto': 'http' });
      expectFlags(csrfSetCookie(http.page), false);
      expectFlags(sessionSetCookie(http.login), false);
    } finally {
      await proxied.close();
    }
  });
});
