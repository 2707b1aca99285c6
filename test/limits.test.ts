import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FAILED_SIGN_INS } from '../src/accounts/routes.ts';
import { loadConfig } from '../src/config.ts';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import { addMember, postMessage, postOk, storedCount } from './support/discussion.ts';

// Client addresses come from X-Forwarded-For, which the app believes from a loopback proxy
// (TRUST_PROXY=loopback): the test is that proxy. The addresses are documentation ones (TEST-NET);
// they are only header values, nothing is sent to them.
const PROXIED = { TRUST_PROXY: 'loopback' };
let nextAddress = 0;
const freshAddress = () => `198.51.100.${++nextAddress}`;

let unique = 0;
const freshEmail = (label: string) => `${label}.${process.pid}.${++unique}@example.test`;

/** A browser at one client address: each sign-in reads the form, then sends what it is given. */
async function visitorAt(url: string, address: string) {
  const client = new Client(url);
  const from = { 'X-Forwarded-For': address };
  return {
    client,
    signIn: async (email: string, password: string) => {
      await client.get('/login', from);
      return client.post('/login', { email, password }, from);
    },
  };
}

/** Fails to sign in until 429 (at most `bound` times); answers how many failures got 401 first, and the 429. */
async function failUntilLimited(attempt: () => Promise<Response & { html: string }>, bound: number) {
  for (let failures = 0; failures <= bound; failures++) {
    const response = await attempt();
    if (response.status === 429) return { failures, limited: response };
    assert.equal(response.status, 401, `attempt ${failures + 1} answered ${response.status}`);
  }
  assert.fail(`no 429 after ${bound + 1} failures`);
}

function assertRetryAfter(response: Response, atMostSeconds: number): void {
  const header = response.headers.get('retry-after') ?? '';
  assert.match(header, /^\d+$/, `Retry-After: ${header}`);
  assert.ok(Number(header) >= 1 && Number(header) <= atMostSeconds, `Retry-After: ${header}`);
}

describe('failed sign-ins', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ env: PROXIED });
  });
  after(() => app.close());

  it('limits one email from one address to 10 failures, while the right password from another address signs in', async () => {
    const owner = await registerPerson(app.url, 'Owner');
    const guesser = await visitorAt(app.url, freshAddress());
    const { failures, limited } = await failUntilLimited(() => guesser.signIn(owner.email, 'not the password'), 20);
    assert.equal(failures, FAILED_SIGN_INS.perEmailAndAddress.limit, 'exactly the allowance (10) before 429');
    assertRetryAfter(limited, 15 * 60);
    assert.match(limited.html, /<form id="login"/);
    assert.match(limited.html, /role="alert">[^<]*Too many failed attempts/);
    // From the limited address, even the right password waits: the limit cannot tell them apart.
    assert.equal((await guesser.signIn(owner.email, owner.password)).status, 429);

    // The owner elsewhere is not locked out: a wrong password still counts as one, the right one signs in.
    const elsewhere = await visitorAt(app.url, freshAddress());
    assert.equal((await elsewhere.signIn(owner.email, 'typo')).status, 401);
    const signedIn = await elsewhere.signIn(owner.email, owner.password);
    assert.equal(signedIn.status, 303);
    assert.equal(signedIn.headers.get('location'), '/tablos');
    assert.equal((await elsewhere.client.get('/tablos')).status, 200);

    // And the limited address may still sign in to another account.
    const other = await registerPerson(app.url, 'Other');
    assert.equal((await guesser.signIn(other.email, other.password)).status, 303);
  });

  it('limits one address across many emails, and no other address', async () => {
    const address = freshAddress();
    const { limit } = FAILED_SIGN_INS.perAddress;
    // The allowance (100), four browsers at a time from the one address: each hit is one locked
    // statement, so the order does not matter, only the count.
    const sprayers = await Promise.all(Array.from({ length: 4 }, () => visitorAt(app.url, address)));
    let sent = 0;
    const statuses: number[] = [];
    await Promise.all(
      sprayers.map(async (sprayer) => {
        while (sent < limit) {
          sent++;
          statuses.push((await sprayer.signIn(freshEmail('spray'), 'guess guess')).status);
        }
      }),
    );
    assert.deepEqual(statuses, Array(limit).fill(401), 'every failure within the allowance is a plain 401');
    const sprayer = sprayers[0]!;
    const limited = await sprayer.signIn(freshEmail('spray'), 'guess guess');
    assert.equal(limited.status, 429, 'the next one, with yet another email, is refused');
    assertRetryAfter(limited, 15 * 60);
    // The address is limited whatever the email, the right password included.
    const person = await registerPerson(app.url, 'Person');
    assert.equal((await sprayer.signIn(person.email, person.password)).status, 429);
    // Another address is not.
    const neighbour = await visitorAt(app.url, freshAddress());
    assert.equal((await neighbour.signIn(person.email, person.password)).status, 303);
  });

  it('admits exactly the allowance when the failures come all at once', async () => {
    const owner = await registerPerson(app.url, 'Rushed');
    const address = freshAddress();
    const visitors = await Promise.all(Array.from({ length: 25 }, () => visitorAt(app.url, address)));
    const statuses = await Promise.all(visitors.map((v) => v.signIn(owner.email, 'parallel guess').then((r) => r.status)));
    assert.equal(statuses.filter((s) => s === 401).length, 10, `statuses: ${statuses.join(' ')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 15);
  });

  it('does not count successful sign-ins', async () => {
    const person = await registerPerson(app.url, 'Regular');
    const visitor = await visitorAt(app.url, freshAddress());
    for (let i = 0; i < 12; i++) assert.equal((await visitor.signIn(person.email, person.password)).status, 303, `sign-in ${i + 1}`);
    const { failures } = await failUntilLimited(() => visitor.signIn(person.email, 'wrong password'), 20);
    assert.equal(failures, FAILED_SIGN_INS.perEmailAndAddress.limit, 'the whole allowance is left after 12 successes');
  });

  it('is shared by every instance on the same database', async () => {
    const second = await startTestApp({ databaseUrl: app.databaseUrl, env: PROXIED });
    try {
      const owner = await registerPerson(app.url, 'Shared');
      const address = freshAddress();
      const [onA, onB] = await Promise.all([visitorAt(app.url, address), visitorAt(second.url, address)]);
      // Alternate between the instances: the failures on both add up to one allowance.
      let turn = 0;
      const { failures, limited } = await failUntilLimited(() => (turn++ % 2 ? onB : onA).signIn(owner.email, 'no'), 40);
      console.log(`# failed sign-ins before 429 across two instances: ${failures}`);
      assert.ok(failures >= 10 && failures <= 20, `${failures} failures before 429 across two instances`);
      assertRetryAfter(limited, 15 * 60);
      // Limited on both instances now.
      assert.equal((await onA.signIn(owner.email, 'no')).status, 429);
      assert.equal((await onB.signIn(owner.email, 'no')).status, 429);
      // Another address on the second instance still signs in.
      const elsewhere = await visitorAt(second.url, freshAddress());
      assert.equal((await elsewhere.signIn(owner.email, owner.password)).status, 303);
      assert.equal((await elsewhere.client.get('/tablos')).status, 200);
    } finally {
      await second.close();
    }
  });
});

describe('posting limit', () => {
  const LIMIT = 5;
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ env: { POST_RATE_LIMIT: String(LIMIT) } });
  });
  after(() => app.close());

  async function tabloOf(owner: Person): Promise<number> {
    const tabloId = await createTablo(owner);
    await owner.client.get(`/tablos/${tabloId}/discussion`);
    return tabloId;
  }

  it('answers 429 with Retry-After over the limit, stores nothing, and keeps the draft', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    const tabloId = await tabloOf(ada);
    for (let i = 1; i <= LIMIT; i++) await postOk(ada, tabloId, `message ${i}`);

    const refused = await postMessage(ada, tabloId, 'one too many', { clientToken: 'over-1' });
    assert.equal(refused.status, 429);
    assertRetryAfter(refused, 60);
    // htmx: the reason alone, for #composer-error (discussion.js puts the draft back).
    assert.doesNotMatch(refused.html, /<html|<article/);
    assert.match(refused.html, /posting too fast/);

    // Without JavaScript: the page again, with the draft in the composer and the reason.
    const plain = await postMessage(ada, tabloId, 'plain <draft>', { htmx: false });
    assert.equal(plain.status, 429);
    assertRetryAfter(plain, 60);
    assert.match(plain.html, /<textarea[^>]*name="body"[^>]*>plain &lt;draft&gt;<\/textarea>/);
    assert.match(plain.html, /id="composer-error"[^>]*>[^<]*posting too fast/);

    assert.equal(await storedCount(app.db, tabloId), LIMIT);
  });

  it('is per person: another member still posts', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    const bob = await registerPerson(app.url, 'Bob');
    const tabloId = await tabloOf(ada);
    await addMember(app.db, tabloId, bob.id);
    await bob.client.get(`/tablos/${tabloId}/discussion`);
    for (let i = 1; i <= LIMIT; i++) await postOk(ada, tabloId, `ada ${i}`);
    assert.equal((await postMessage(ada, tabloId, 'ada again')).status, 429);
    await postOk(bob, tabloId, 'bob is not limited by ada');
    assert.equal(await storedCount(app.db, tabloId), LIMIT + 1);
  });

  it('counts a message once when it is retried with its client_token', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    const tabloId = await tabloOf(ada);
    const first = await postOk(ada, tabloId, 'sent twice', 'retry-token');
    const again = await postOk(ada, tabloId, 'sent twice', 'retry-token');
    assert.equal(again.id, first.id);
    for (let i = 2; i <= LIMIT; i++) await postOk(ada, tabloId, `message ${i}`);
    assert.equal((await postMessage(ada, tabloId, 'over')).status, 429);
    assert.equal(await storedCount(app.db, tabloId), LIMIT);
  });

  it('is shared by every instance on the same database', async () => {
    const second = await startTestApp({ databaseUrl: app.databaseUrl, env: { POST_RATE_LIMIT: String(LIMIT) } });
    try {
      const ada = await registerPerson(app.url, 'Ada');
      const tabloId = await tabloOf(ada);
      // The same person, signed in on the second instance too (sessions live in the shared database).
      const there = { ...ada, client: new Client(second.url) };
      await there.client.get('/login');
      assert.equal((await there.client.post('/login', { email: ada.email, password: ada.password })).status, 303);
      await there.client.get(`/tablos/${tabloId}/discussion`);

      for (let i = 1; i <= LIMIT; i++) await postOk(i % 2 ? ada : there, tabloId, `message ${i}`);
      assert.equal((await postMessage(there, tabloId, 'over on B')).status, 429);
      assert.equal((await postMessage(ada, tabloId, 'over on A')).status, 429);
      assert.equal(await storedCount(app.db, tabloId), LIMIT);
    } finally {
      await second.close();
    }
  });

  it('is off with POST_RATE_LIMIT=0', async () => {
    const unlimited = await startTestApp({ env: { POST_RATE_LIMIT: '0' } });
    try {
      const ada = await registerPerson(unlimited.url, 'Ada');
      const tabloId = await createTablo(ada);
      await ada.client.get(`/tablos/${tabloId}/discussion`);
      // More than the default limit (120 a minute), as fast as they go.
      const count = 130;
      let next = 0;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (next < count) {
            const response = await postMessage(ada, tabloId, `message ${++next}`);
            assert.equal(response.status, 201);
          }
        }),
      );
      assert.equal(await storedCount(unlimited.db, tabloId), count);
    } finally {
      await unlimited.close();
    }
  });

  it('reads POST_RATE_LIMIT: 120 by default, 0 for off, refuses nonsense', () => {
    assert.equal(loadConfig({}).postRateLimit, 120);
    assert.equal(loadConfig({ POST_RATE_LIMIT: '0' }).postRateLimit, 0);
    assert.equal(loadConfig({ POST_RATE_LIMIT: '30' }).postRateLimit, 30);
    for (const bad of ['-1', 'lots', '1.5']) assert.throws(() => loadConfig({ POST_RATE_LIMIT: bad }), /POST_RATE_LIMIT/);
  });
});

describe('anonymous visits', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp();
  });
  after(() => app.close());

  const sessionRows = async () => {
    const row = await app.db.selectFrom('sessions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(row.n);
  };

  it('store nothing: GET /login and /register signed out leave no session row', async () => {
    assert.equal(await sessionRows(), 0);
    for (let i = 0; i < 5; i++) {
      for (const path of ['/login', '/register', '/login?next=%2Ftablos']) {
        const page = await new Client(app.url).get(path);
        assert.equal(page.status, 200);
        assert.match(page.html, /<meta name="csrf-token" content="[^"]+">/);
        assert.match(page.html, /name="_csrf" value="[^"]+"/);
      }
    }
    // A failed sign-in stores nothing either.
    const visitor = new Client(app.url);
    await visitor.get('/login');
    assert.equal((await visitor.post('/login', { email: freshEmail('nobody'), password: 'whatever1' })).status, 401);
    assert.equal(await sessionRows(), 0);

    // Registering and signing in still work, and they do store a session.
    const ada = await registerPerson(app.url, 'Ada');
    assert.equal(await sessionRows(), 1);
    const again = new Client(app.url);
    await again.get('/login');
    assert.equal((await again.post('/login', { email: ada.email, password: ada.password })).status, 303);
    assert.equal((await again.get('/tablos')).status, 200);
    assert.equal(await sessionRows(), 2);
  });

  it('refuses a token from another visitor (the token is bound to its own cookie)', async () => {
    const first = new Client(app.url);
    const second = new Client(app.url);
    await Promise.all([first.get('/register'), second.get('/register')]);
    assert.ok(first.csrfToken && second.csrfToken);
    assert.notEqual(first.csrfToken, second.csrfToken);
    const email = freshEmail('crossed');
    const crossed = await second.post('/register', { email, name: 'Crossed', password: 'long enough', _csrf: first.csrfToken! });
    assert.equal(crossed.status, 403);
    // Nor does a visitor with no cookie at all get in with a real token.
    const cookieless = await new Client(app.url).post('/register', { email, name: 'Crossed', password: 'long enough', _csrf: first.csrfToken! });
    assert.equal(cookieless.status, 403);
    // Nothing was created: the email is still free.
    const ok = await first.post('/register', { email, name: 'Crossed', password: 'long enough' });
    assert.equal(ok.status, 303);
  });

  it('refuses a token made up by the visitor, even sent as both cookie and field', async () => {
    const forger = new Client(app.url);
    const forged = `${'ab'.repeat(32)}.${'cd'.repeat(32)}`;
    forger.setCookie('tablo.csrf', forged);
    const ada = await registerPerson(app.url, 'Ada');
    const response = await forger.post('/login', { email: ada.email, password: ada.password, _csrf: forged });
    assert.equal(response.status, 403);
    assert.equal((await forger.get('/tablos')).status, 303);
  });

  it('refuses a signed-out token once signed in, and a signed-in token once signed out', async () => {
    const ada = await registerPerson(app.url, 'Ada');
    const client = new Client(app.url);
    await client.get('/login');
    const signedOutToken = client.csrfToken!;
    assert.equal((await client.post('/login', { email: ada.email, password: ada.password })).status, 303);
    assert.equal((await client.post('/tablos', { title: 'stale', _csrf: signedOutToken })).status, 403);
    await client.get('/tablos');
    const signedInToken = client.csrfToken!;
    assert.notEqual(signedInToken, signedOutToken);
    assert.equal((await client.post('/logout')).status, 303);
    const email = freshEmail('after');
    assert.equal((await client.post('/register', { email, name: 'After', password: 'long enough', _csrf: signedInToken })).status, 403);
  });
});
