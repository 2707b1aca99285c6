import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { pino } from 'pino';
import { TabloProcess } from '../e2e/support/server.ts';
import { createDatabase, createPool } from '../src/db/database.ts';
import { RefusedTarget, sendWebhook } from '../src/webhooks/send.ts';
import { api, newBot } from './support/api.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTablo, type Person, registerPerson } from './support/client.ts';
import { createTestDatabase } from './support/database.ts';
import { elementById, eventually, postOk } from './support/discussion.ts';
import { tabloWith } from './support/members.ts';
import { signatureIsValid, WebhookReceiver } from './support/webhook-receiver.ts';

// Webhooks leave through the outbox. Retries here start after 100 ms and an entry is dead after
// its third attempt, so that a test sees every state within seconds.
let app: TestApp;
let receiver: WebhookReceiver;
let ada: Person;
let bob: Person;
let tabloId: number;

type Made = { botId: number; secret: string; token: string };

async function botWithHook(owner: Person, tablo: number, handle: string): Promise<Made> {
  const made = await newBot(owner, tablo, { name: handle, handle, webhook_url: `${receiver.url}/${handle}` });
  assert.equal(made.status, 200, made.html.slice(0, 300));
  const { secret, token } = made;
  assert.ok(secret && token);
  assert.match(secret, /^whsec_/);
  return { botId: made.botId, secret, token };
}

function deliveriesOf(messageId: number) {
  return app.db
    .selectFrom('outbox')
    .select(['id', 'status', 'attempts', 'last_error', 'payload'])
    .where('kind', '=', 'webhook')
    .where(sql<boolean>`(payload ->> 'message')::integer = ${messageId}`)
    .orderBy('id')
    .execute();
}

async function replyOf(botId: number, messageId: number) {
  return app.db.selectFrom('messages').select(['id', 'body']).where('author_id', '=', botId).where('reply_to', '=', messageId).executeTakeFirst();
}

before(async () => {
  receiver = await WebhookReceiver.start();
  app = await startTestApp({ env: { ALLOW_PRIVATE_URLS: 'true', OUTBOX_RETRY_BASE_MS: '100', OUTBOX_MAX_ATTEMPTS: '3', POST_RATE_LIMIT: '0' } });
  ada = await registerPerson(app.url, 'Ada');
  bob = await registerPerson(app.url, 'Bob');
  tabloId = await tabloWith(ada, 'Bots room', bob);
});
after(async () => {
  await app?.close();
  await receiver?.close();
});

describe('a webhook delivery', () => {
  it('is signed per Standard Webhooks, carries the message, and goes only to the bots mentioned (or @all), never to its author', async () => {
    const echo = await botWithHook(ada, tabloId, 'echo');
    const quiet = await botWithHook(ada, tabloId, 'quiet');
    await ada.client.get(`/tablos/${tabloId}/discussion`);

    const plain = await postOk(ada, tabloId, 'nobody is mentioned here');
    const mentioned = await postOk(ada, tabloId, 'hello @echo');
    await eventually(async () => receiver.at('/echo').length === 1, 10_000, 'the delivery to @echo');
    const [delivery] = receiver.at('/echo');
    assert.ok(signatureIsValid(echo.secret, delivery!), 'the signature checks out by the spec');
    assert.ok(!signatureIsValid(quiet.secret, delivery!), 'and not with another bot’s secret');
    assert.equal(delivery!.headers['webhook-id'], `msg_${mentioned.id}_${echo.botId}`);
    assert.ok(Math.abs(Number(delivery!.headers['webhook-timestamp']) - Date.now() / 1000) < 60);
    assert.match(String(delivery!.headers['content-type']), /^application\/json/);
    const sent = JSON.parse(delivery!.body) as { type: string; tablo: { id: number; title: string }; message: { id: number; body: string; author: { id: number } } };
    assert.equal(sent.type, 'message.created');
    assert.deepEqual(sent.tablo, { id: tabloId, title: 'Bots room' });
    assert.equal(sent.message.id, mentioned.id);
    assert.equal(sent.message.body, 'hello @echo');
    assert.equal(sent.message.author.id, ada.id);
    assert.deepEqual(await deliveriesOf(plain.id), [], 'a message mentioning no bot queues nothing');
    assert.equal((await deliveriesOf(mentioned.id)).length, 1, '@quiet was not mentioned');

    const everyone = await postOk(ada, tabloId, 'hi @all');
    await eventually(async () => receiver.at('/echo').length === 2 && receiver.at('/quiet').length === 1, 10_000, '@all to both bots');
    assert.equal(receiver.at('/quiet')[0]!.headers['webhook-id'], `msg_${everyone.id}_${quiet.botId}`);
    assert.ok(signatureIsValid(quiet.secret, receiver.at('/quiet')[0]!));

    // A bot's own message mentioning everyone (itself included) calls the others, not itself.
    const own = await api(app.url, quiet.token, 'POST', `/tablos/${tabloId}/messages`, { body: '@all and @quiet: done' });
    assert.equal(own.status, 201, JSON.stringify(own.body));
    const ownId = (own.body as { message: { id: number } }).message.id;
    await eventually(async () => receiver.at('/echo').length === 3, 10_000, 'the bot’s @all to @echo');
    const queued = await deliveriesOf(ownId);
    assert.deepEqual(queued.map((d) => (d.payload as { bot: number }).bot), [echo.botId]);
    assert.equal(receiver.at('/quiet').length, 1, 'no webhook to the bot for its own message');
  });

  it('posts a 2xx text answer, or a JSON {"body"}, as the bot’s reply to the message; an empty answer posts nothing', async () => {
    const text = await botWithHook(ada, tabloId, 'texter');
    const json = await botWithHook(ada, tabloId, 'jsoner');
    receiver.plan('/texter', [{ status: 200, type: 'text/plain; charset=utf-8', body: 'pong from **texter**' }]);
    receiver.plan('/jsoner', [{ status: 201, type: 'application/json', body: JSON.stringify({ body: 'pong from jsoner' }) }]);
    await ada.client.get(`/tablos/${tabloId}/discussion`);
    const asked = await postOk(ada, tabloId, '@texter @jsoner ping');
    await eventually(async () => Boolean((await replyOf(text.botId, asked.id)) && (await replyOf(json.botId, asked.id))), 10_000, 'both replies');
    assert.equal((await replyOf(text.botId, asked.id))!.body, 'pong from **texter**');
    assert.equal((await replyOf(json.botId, asked.id))!.body, 'pong from jsoner');
    // The replies are in the discussion, as the bots', quoting the message.
    const page = await ada.client.get(`/tablos/${tabloId}/discussion`);
    const reply = await replyOf(text.botId, asked.id);
    assert.match(elementById(page.html, `message-${reply!.id}`)?.inner ?? '', new RegExp(`data-message-id="${asked.id}"`));

    receiver.plan('/texter', [{ status: 200, type: 'text/plain', body: '   ' }]);
    const silent = await postOk(ada, tabloId, '@texter say nothing');
    await eventually(async () => (await deliveriesOf(silent.id))[0]?.status === 'done', 10_000, 'the delivery done');
    assert.equal(await replyOf(text.botId, silent.id), undefined);
  });
});

describe('retries and dead letters', () => {
  it('a receiver failing twice then succeeding gets it on the third attempt, with the same webhook-id', async () => {
    await botWithHook(ada, tabloId, 'flaky');
    receiver.plan('/flaky', [{ status: 500 }, { status: 503 }, { status: 204 }]);
    await ada.client.get(`/tablos/${tabloId}/discussion`);
    const message = await postOk(ada, tabloId, '@flaky try hard');
    await eventually(async () => (await deliveriesOf(message.id))[0]?.status === 'done', 15_000, 'the third attempt done');
    const got = receiver.at('/flaky');
    assert.equal(got.length, 3);
    assert.equal(new Set(got.map((g) => g.headers['webhook-id'])).size, 1, 'one webhook-id for every attempt');
    assert.equal((await deliveriesOf(message.id))[0]!.attempts, 3);
  });

  it('is dead after the last attempt, shown on the bot’s page to its owner, and redelivered by the owner only', async () => {
    const down = await botWithHook(ada, tabloId, 'down');
    receiver.plan('/down', [{ status: 502 }]);
    await ada.client.get(`/tablos/${tabloId}/discussion`);
    const message = await postOk(ada, tabloId, '@down are you there?');
    await eventually(async () => (await deliveriesOf(message.id))[0]?.status === 'dead', 15_000, 'a dead letter');
    const [dead] = await deliveriesOf(message.id);
    assert.equal(dead!.attempts, 3);
    assert.equal(dead!.last_error, 'the receiver answered 502');
    assert.equal(receiver.at('/down').length, 3);

    const page = await ada.client.get(`/tablos/${tabloId}/bots/${down.botId}`);
    assert.equal(page.status, 200);
    const row = elementById(page.html, `delivery-${dead!.id}`);
    assert.ok(row, 'the delivery is listed');
    assert.match(row.attrs['data-status'] ?? '', /^dead$/);
    assert.equal(row.attrs['data-attempts'], '3');
    assert.match(row.inner, /the receiver answered 502/);
    assert.match(row.inner, /Redeliver/);
    const redeliver = `/tablos/${tabloId}/bots/${down.botId}/deliveries/${dead!.id}/redeliver`;

    // A member who is not the owner cannot see it, nor redeliver (as every owner-only page); nor can the owner without the CSRF token.
    await bob.client.get(`/tablos/${tabloId}/discussion`);
    assert.equal((await bob.client.get(`/tablos/${tabloId}/bots/${down.botId}`)).status, 403);
    assert.equal((await bob.client.post(redeliver, {})).status, 403);
    const forged = await fetch(new URL(redeliver, app.url), { method: 'POST', redirect: 'manual', headers: { Cookie: ada.client.cookieHeader(), 'Content-Type': 'application/x-www-form-urlencoded' }, body: '' });
    assert.equal(forged.status, 403);
    assert.equal((await deliveriesOf(message.id))[0]!.status, 'dead');

    receiver.plan('/down', [{ status: 200 }]);
    const answer = await ada.client.post(redeliver, {});
    assert.equal(answer.status, 303);
    assert.equal(answer.headers.get('location'), `/tablos/${tabloId}/bots/${down.botId}`);
    await eventually(async () => (await deliveriesOf(message.id))[0]?.status === 'done', 10_000, 'the redelivery done');
    assert.equal((await deliveriesOf(message.id))[0]!.attempts, 1, 'attempts counted afresh');
    const got = receiver.at('/down');
    assert.equal(got.length, 4);
    assert.equal(got[3]!.headers['webhook-id'], got[0]!.headers['webhook-id']);
    // Only a dead one is redelivered.
    assert.equal((await ada.client.post(redeliver, {})).status, 404);
    const shown = await ada.client.get(`/tablos/${tabloId}/bots/${down.botId}`);
    assert.equal(elementById(shown.html, `delivery-${dead!.id}`)?.attrs['data-status'], 'done');
  });
});

describe('private targets', () => {
  it('are refused at delivery time when ALLOW_PRIVATE_URLS is false (a URL that now resolves to loopback), with a clear last error', async () => {
    const strict = await startTestApp({ env: { OUTBOX_RETRY_BASE_MS: '100', OUTBOX_MAX_ATTEMPTS: '2' } });
    try {
      const owner = await registerPerson(strict.url, 'Olga');
      const tablo = await createTablo(owner, 'Strict room');
      const made = await newBot(owner, tablo, { name: 'Inside', handle: 'inside' });
      assert.equal(made.status, 200);
      // Stored when it was public; it points at this machine now (as DNS rebinding would make it).
      await strict.db
        .updateTable('bots')
        .set({ webhook_url: `${receiver.url}/inside`, webhook_secret: `whsec_${Buffer.alloc(32, 7).toString('base64')}` })
        .where('user_id', '=', made.botId)
        .execute();
      await owner.client.get(`/tablos/${tablo}/discussion`);
      const message = await postOk(owner, tablo, '@inside read the metadata service');
      const entry = () => strict.db.selectFrom('outbox').select(['status', 'attempts', 'last_error']).where('kind', '=', 'webhook').executeTakeFirstOrThrow();
      await eventually(async () => (await entry()).status === 'dead', 10_000, 'the refused delivery dead');
      assert.match((await entry()).last_error ?? '', /^refused: 127\.0\.0\.1 resolves to 127\.0\.0\.1, not a public address/);
      assert.equal(receiver.at('/inside').length, 0, 'nothing reached the receiver');
      assert.ok(message.id);
    } finally {
      await strict.close();
    }
  });
});

describe('sending', () => {
  it('fails an attempt whose receiver does not answer in time (the outbox then retries it)', async () => {
    receiver.plan('/slow', ['hold']);
    const started = Date.now();
    await assert.rejects(sendWebhook(`${receiver.url}/slow`, {}, '{}', { allowPrivateUrls: true, timeoutMs: 300 }), /no answer within 0.3 s/);
    assert.ok(Date.now() - started < 5_000);
    assert.equal(receiver.at('/slow').length, 1);
  });

  it('resolves the host itself and refuses a name that resolves to loopback, connecting nowhere', async () => {
    const port = new URL(receiver.url).port;
    await assert.rejects(sendWebhook(`http://localhost:${port}/named`, {}, '{}', { allowPrivateUrls: false }), RefusedTarget);
    assert.equal(receiver.at('/named').length, 0);
    // Allowed, the name reaches the address it was resolved to.
    const answer = await sendWebhook(`http://localhost:${port}/named`, {}, '{}', { allowPrivateUrls: true });
    assert.equal(answer.status, 204);
  });
});

describe('a crash', () => {
  it('loses no delivery: the instance killed (SIGKILL) mid-delivery is restarted and the delivery happens', async () => {
    const database = await createTestDatabase();
    const db = createDatabase(createPool(database.url, pino({ level: 'silent' })));
    const tablo = await TabloProcess.start(database.url, { ALLOW_PRIVATE_URLS: 'true', OUTBOX_LEASE_MS: '1500' });
    try {
      const owner = await registerPerson(tablo.url, 'Kim');
      const room = await createTablo(owner, 'Crash room');
      const made = await newBot(owner, room, { name: 'Held', handle: 'held', webhook_url: `${receiver.url}/held` });
      assert.equal(made.status, 200);
      receiver.plan('/held', ['hold', { status: 200, type: 'text/plain', body: 'made it' }]);
      await owner.client.get(`/tablos/${room}/discussion`);
      const message = await postOk(owner, room, '@held hold on');
      await eventually(async () => receiver.at('/held').length === 1, 10_000, 'the delivery under way');
      await tablo.crash();
      await tablo.launch();
      const entry = () => db.selectFrom('outbox').select(['status', 'attempts']).where('kind', '=', 'webhook').executeTakeFirstOrThrow();
      await eventually(async () => (await entry()).status === 'done', 15_000, 'the delivery done after the restart');
      const got = receiver.at('/held');
      assert.equal(got.length, 2);
      assert.equal(got[1]!.headers['webhook-id'], `msg_${message.id}_${made.botId}`);
      assert.equal(got[1]!.headers['webhook-id'], got[0]!.headers['webhook-id']);
      assert.equal((await entry()).attempts, 2);
      const reply = await db.selectFrom('messages').select('body').where('reply_to', '=', message.id).execute();
      assert.deepEqual(reply.map((r) => r.body), ['made it'], 'the reply posted once');
    } finally {
      await tablo.stop();
      await db.destroy();
      await database.drop();
    }
  });
});
