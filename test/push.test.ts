import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { pino } from 'pino';
import { TabloProcess } from '../e2e/support/server.ts';
import { createDatabase, createPool, type Database } from '../src/db/database.ts';
import { type Person, registerPerson } from './support/client.ts';
import { createTestDatabase } from './support/database.ts';
import { eventually, postOk, unreadBadge } from './support/discussion.ts';
import { htmx, presenceOnPage, Streams, tabloWith } from './support/members.ts';
import { PushBrowser, PushReceiver, selfSignedCertificate, verifyVapid } from './support/push-receiver.ts';
import { openStream } from './support/sse.ts';

// Tablo runs in a process of its own, started with NODE_EXTRA_CA_CERTS so that it trusts the
// receiver's self-signed certificate (Node reads that variable only when it starts).
let database: { url: string; drop: () => Promise<void> };
let db: Database;
let receiver: PushReceiver;
let tablo: TabloProcess;
let ada: Person;
let bob: Person;
let tabloId: number;
let browsers = 0;
const streams = new Streams();
afterEach(streams.closeAll);

before(async () => {
  const tls = selfSignedCertificate();
  receiver = await PushReceiver.start(tls);
  database = await createTestDatabase();
  tablo = await TabloProcess.start(database.url, { NODE_EXTRA_CA_CERTS: tls.certFile, ALLOW_PRIVATE_URLS: 'true', POST_RATE_LIMIT: '0' });
  db = createDatabase(createPool(database.url, pino({ level: 'silent' })));
  ada = await registerPerson(tablo.url, 'Ada');
  bob = await registerPerson(tablo.url, 'Bob');
  tabloId = await tabloWith(ada, 'Launch room', bob);
});
after(async () => {
  await tablo?.stop();
  await receiver?.close();
  await db?.destroy();
  await database?.drop();
});

/** A new browser of this person, subscribed through the route a page uses. */
async function subscribed(person: Person): Promise<PushBrowser> {
  const browser = new PushBrowser(`${receiver.origin}/push/${++browsers}`);
  const response = await subscribe(person, browser.subscription());
  assert.equal(response.status, 201, await response.text());
  return browser;
}

async function subscribe(person: Person, subscription: unknown): Promise<Response> {
  await person.client.get(`/tablos`);
  return person.client.request('/push/subscriptions', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': person.client.csrfToken ?? '' },
    body: JSON.stringify(subscription),
  });
}

/** Waits until the outbox has nothing pending: every push decided and sent (or given up for now). */
async function outboxSettled(): Promise<void> {
  await eventually(async () => {
    const pending = await db.selectFrom('outbox').select('id').where('status', '=', 'pending').execute();
    return pending.length === 0;
  }, 15_000, 'the outbox to settle');
}

type Payload = { tablo: { id: number; title: string }; author: string; snippet: string; url: string };
const payloadOf = (browser: PushBrowser, body: Buffer) => JSON.parse(browser.decrypt(body)) as Payload;

async function handleOf(person: Person): Promise<string> {
  return (await db.selectFrom('users').select('handle').where('id', '=', person.id).executeTakeFirstOrThrow()).handle;
}

const setLevel = (person: Person, level: string, headers: Record<string, string> = {}) =>
  person.client.post(`/tablos/${tabloId}/notifications`, { level }, headers);

describe('Web Push', () => {
  it('sends a member an aes128gcm payload signed with the VAPID key that /push/key shows', async () => {
    const phone = await subscribed(bob);
    const posted = await postOk(ada, tabloId, 'The deploy is done, **all green**. Next: the release notes for everyone who asked.');
    const [delivery] = await receiver.received(phone.path);
    assert.ok(delivery);
    assert.equal(delivery.headers['content-encoding'], 'aes128gcm');
    assert.ok(Number(delivery.headers.ttl) > 0);
    const key = await (await fetch(`${tablo.url}/push/key`)).text();
    const claims = verifyVapid(String(delivery.headers.authorization), key, receiver.origin);
    assert.match(String(claims.sub), /^(mailto:|https:)/);
    const payload = payloadOf(phone, delivery.body);
    assert.deepEqual(payload.tablo, { id: tabloId, title: 'Launch room' });
    assert.equal(payload.author, 'Ada');
    assert.ok(payload.snippet.startsWith('The deploy is done'), payload.snippet);
    assert.ok(payload.snippet.length <= 120);
    assert.equal(payload.url, `/tablos/${tabloId}/discussion?at=${posted.seq}`);
  });

  it('never sends one their own message', async () => {
    const adaPhone = await subscribed(ada);
    const bobPhone = await subscribed(bob);
    await postOk(ada, tabloId, 'my own words');
    await receiver.received(bobPhone.path);
    await outboxSettled();
    assert.equal(receiver.to(adaPhone.path).length, 0);
  });

  it('follows the level: all, mentions only (of them or @all), none', async () => {
    const phone = await subscribed(bob);
    const handle = await handleOf(bob);

    const htmxAnswer = await setLevel(bob, 'mentions', htmx(bob));
    assert.equal(htmxAnswer.status, 200);
    assert.match(htmxAnswer.html, /id="notification-level"[^>]*data-level="mentions"/);
    await postOk(ada, tabloId, 'nothing for Bob here');
    await postOk(ada, tabloId, `@${handle}, a question for you`);
    await postOk(ada, tabloId, 'And (@all) of you: stand-up moved');
    await outboxSettled();
    // Sends run concurrently: their order of arrival is not the messages' order.
    const received = receiver.to(phone.path).map((d) => payloadOf(phone, d.body).snippet);
    assert.deepEqual(received.sort(), [`@${handle}, a question for you`, 'And (@all) of you: stand-up moved'].sort());

    const plainAnswer = await setLevel(bob, 'none');
    assert.equal(plainAnswer.status, 303);
    assert.equal(plainAnswer.headers.get('location'), `/tablos/${tabloId}/discussion`);
    await postOk(ada, tabloId, `@${handle} still there?`);
    await outboxSettled();
    assert.equal(receiver.to(phone.path).length, 2);

    assert.equal((await setLevel(bob, 'all', htmx(bob))).status, 200);
    await postOk(ada, tabloId, 'back to everything');
    await receiver.received(phone.path, 3);
  });

  it('refuses a level that is none of the three, and a tablo one is not a member of', async () => {
    assert.equal((await setLevel(bob, 'loud')).status, 422);
    const stranger = await registerPerson(tablo.url, 'Eve');
    await stranger.client.get('/tablos');
    assert.equal((await stranger.client.post(`/tablos/${tabloId}/notifications`, { level: 'none' })).status, 404);
  });

  it('never sends while the person has the discussion visible; a hidden tab does not count', async () => {
    const phone = await subscribed(bob);
    const visible = await streams.add(openStream(bob.client, tabloId));
    assert.equal(visible.status, 200);
    await eventually(async () => presenceOnPage((await ada.client.get(`/tablos/${tabloId}/discussion`)).html).includes(bob.id), 5_000, 'Bob here');
    await postOk(ada, tabloId, 'Bob is reading this live');
    await outboxSettled();
    assert.equal(receiver.to(phone.path).length, 0);
    visible.close();

    const hidden = await streams.add(openStream(bob.client, tabloId, { url: `/tablos/${tabloId}/discussion/stream?hidden=1` }));
    assert.equal(hidden.status, 200);
    await eventually(async () => !presenceOnPage((await ada.client.get(`/tablos/${tabloId}/discussion`)).html).includes(bob.id), 5_000, 'Bob not here');
    const posted = await postOk(ada, tabloId, 'Bob’s tab is in the background');
    const [delivery] = await receiver.received(phone.path);
    assert.equal(payloadOf(phone, delivery!.body).url, `/tablos/${tabloId}/discussion?at=${posted.seq}`);
    // The hidden tab got the message, but its reader has not read it.
    await eventually(async () => hidden.messages.some((m) => m.id === String(posted.seq)), 5_000, 'the hidden stream carries it');
    await new Promise((r) => setTimeout(r, 1_500)); // past the read tracker's flush
    assert.ok((await unreadBadge(bob, tabloId)).count >= 1);
  });

  it('sends nothing for a tablo one has left', async () => {
    const carol = await registerPerson(tablo.url, 'Carol');
    const room = await tabloWith(ada, 'Left room', carol);
    const phone = await subscribed(carol);
    await postOk(ada, room, 'welcome Carol');
    await receiver.received(phone.path);
    await carol.client.get(`/tablos/${room}`);
    assert.equal((await carol.client.post(`/tablos/${room}/leave`)).status, 303);
    await postOk(ada, room, 'after Carol left');
    await outboxSettled();
    assert.equal(receiver.to(phone.path).length, 1);
  });

  it('removes a subscription its push service answers 410 for', async () => {
    const phone = await subscribed(bob);
    receiver.answer(phone.path, 410);
    await postOk(ada, tabloId, 'to a browser that unsubscribed');
    await receiver.received(phone.path);
    await eventually(async () => {
      const rows = await db.selectFrom('push_subscriptions').select('id').where('endpoint', '=', phone.endpoint).execute();
      return rows.length === 0;
    }, 5_000, 'the subscription removed');
  });

  it('tries again after a 500 from the push service', async () => {
    const phone = await subscribed(bob);
    receiver.answer(phone.path, 500);
    const posted = await postOk(ada, tabloId, 'worth a second try');
    const [first, second] = await receiver.received(phone.path, 2, 20_000);
    for (const delivery of [first!, second!]) assert.equal(payloadOf(phone, delivery.body).url, `/tablos/${tabloId}/discussion?at=${posted.seq}`);
    const row = await db.selectFrom('outbox').select(['status', 'attempts']).where('kind', '=', 'push.send').orderBy('id', 'desc').executeTakeFirstOrThrow();
    await eventually(async () => {
      const latest = await db.selectFrom('outbox').select(['status', 'attempts']).where('kind', '=', 'push.send').orderBy('id', 'desc').executeTakeFirstOrThrow();
      return latest.status === 'done' && latest.attempts === 2;
    }, 5_000, `the send done on its second attempt (was ${row.status}/${row.attempts})`);
  });

  it('refuses what is not a push subscription, and an http endpoint', async () => {
    const browser = new PushBrowser(`${receiver.origin}/push/refused`);
    assert.equal((await subscribe(bob, { endpoint: browser.endpoint })).status, 422);
    assert.equal((await subscribe(bob, { ...browser.subscription(), keys: { p256dh: 'short', auth: 'x' } })).status, 422);
    assert.equal((await subscribe(bob, { ...browser.subscription(), endpoint: browser.endpoint.replace('https:', 'http:') })).status, 422);
  });
});
