import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { type ApiAnswer, api, newBot, newToken } from './support/api.ts';
import { startTestApp, type TestApp } from './support/app.ts';
import { createTablo, type Person, registerPerson } from './support/client.ts';
import { addMember, postOk } from './support/discussion.ts';
import { pngOf } from './support/files.ts';
import { ended } from './support/members.ts';
import { openStream } from './support/sse.ts';

/**
 * The JSON API over real HTTP and PostgreSQL: tokens, every route and rule, and every answer
 * checked against the app's own OpenAPI 3.1 document with Ajv (2020-12 dialect, ajv-formats).
 */
type Message = { id: number; seq: number; version: number; author: { id: number; name: string; handle: string }; body: string | null; deleted: boolean; reply_to: number | null; reactions: { emoji: string; count: number; user_ids: number[] }[] };

let app: TestApp;
let owner: Person;
let member: Person;
let stranger: Person;
let tabloId: number;
let ownerToken: string;
let memberToken: string;
let strangerToken: string;
let checkAnswer: (method: string, path: string, answer: ApiAnswer) => void;

before(async () => {
  app = await startTestApp({ env: { POST_RATE_LIMIT: '5' } });
  [owner, member, stranger] = await Promise.all([registerPerson(app.url, 'Olga'), registerPerson(app.url, 'Mina'), registerPerson(app.url, 'Sam')]);
  tabloId = await createTablo(owner, 'API room');
  await addMember(app.db, tabloId, member.id);
  const tokens = await Promise.all([newToken(owner), newToken(member), newToken(stranger)]);
  [ownerToken, memberToken, strangerToken] = [tokens[0].value, tokens[1].value, tokens[2].value];

  const document = (await api(app.url, undefined, 'GET', '/openapi.json')).body as Record<string, unknown> & { paths: Record<string, Record<string, unknown>> };
  const validator = new Validator();
  const checked = await validator.validate(document);
  assert.equal(checked.valid, true, `the OpenAPI document is not valid 3.1: ${JSON.stringify(checked.errors)}`);
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats.default(ajv);
  ajv.addSchema(document, 'openapi.json');
  checkAnswer = (method, path, answer) => {
    const template = Object.keys(document.paths).find((p) => new RegExp(`^${p.replace(/\{\w+\}/g, '\\d+')}$`).test(path.split('?')[0]!));
    assert.ok(template, `${path} is not in the OpenAPI document`);
    const responses = (document.paths[template]![method.toLowerCase()] as { responses: Record<string, { content?: Record<string, unknown> }> }).responses;
    const declared = responses[String(answer.status)];
    assert.ok(declared, `${method} ${template} does not declare ${answer.status}`);
    if (!declared.content) return assert.equal(answer.body, undefined);
    const pointer = `openapi.json#/paths/${template.replaceAll('/', '~1')}/${method.toLowerCase()}/responses/${answer.status}/content/application~1json/schema`;
    const validate = ajv.compile({ $ref: pointer });
    assert.ok(validate(answer.body), `${method} ${path} ${answer.status} does not match its schema: ${ajv.errorsText(validate.errors)}; ${JSON.stringify(answer.body)}`);
  };
});

after(() => app?.close());

/** An API call whose answer must match the OpenAPI document. */
async function call(token: string | undefined, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<ApiAnswer> {
  const answer = await api(app.url, token, method, path, body, headers);
  checkAnswer(method, path, answer);
  return answer;
}

const messageOf = (answer: ApiAnswer) => (answer.body as { message: Message }).message;

describe('tokens', () => {
  it('are shown once, tablo_ + 256 bits in base64url, stored only as a SHA-256 hash, listed with their last use', async () => {
    const person = await registerPerson(app.url, 'Tess');
    const token = await newToken(person, 'deploy');
    assert.match(token.value, /^tablo_[A-Za-z0-9_-]{43}$/);
    const rows = await app.db.selectFrom('api_tokens').selectAll().where('user_id', '=', person.id).execute();
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.token_hash.length, 32);
    assert.ok(!JSON.stringify(rows).includes(token.value.slice(6)), 'the token itself is not stored');
    const page = await person.client.get('/settings/tokens');
    assert.ok(!page.html.includes(token.value), 'the token is not shown again');
    assert.match(page.html, new RegExp(`<li id="token-${token.id}"[\\s\\S]*never used[\\s\\S]*action="/settings/tokens/${token.id}/revoke"`));
    assert.equal((await call(token.value, 'GET', '/tablos')).status, 200);
    assert.match((await person.client.get('/settings/tokens')).html, /last used <time/);
    assert.match((await person.client.get('/settings')).html, /href="\/settings\/tokens"/);
  });

  it('need a name (422), and a CSRF token like every form', async () => {
    await owner.client.get('/settings/tokens');
    assert.equal((await owner.client.post('/settings/tokens', { name: '  ' })).status, 422);
    assert.equal((await owner.client.post('/settings/tokens', { name: 'x', _csrf: 'wrong' })).status, 403);
  });

  it('401 without a token, with an unknown, malformed or revoked one, and with a session cookie only', async () => {
    assert.equal((await call(undefined, 'GET', '/tablos')).status, 401);
    assert.equal((await call(`tablo_${'A'.repeat(43)}`, 'GET', '/tablos')).status, 401);
    assert.equal((await call('not-a-token', 'GET', '/tablos')).status, 401);
    const cookieOnly = await api(app.url, undefined, 'GET', '/tablos', undefined, { Cookie: owner.client.cookieHeader() });
    assert.equal(cookieOnly.status, 401);
    assert.deepEqual(Object.keys(cookieOnly.body as object), ['error']);
    const posted = await api(app.url, undefined, 'POST', `/tablos/${tabloId}/messages`, { body: 'riding a cookie' }, { Cookie: owner.client.cookieHeader(), 'X-CSRF-Token': owner.client.csrfToken ?? '' });
    assert.equal(posted.status, 401);

    const person = await registerPerson(app.url, 'Rita');
    const token = await newToken(person);
    assert.equal((await call(token.value, 'GET', '/tablos')).status, 200);
    await person.client.get('/settings/tokens');
    const revoked = await person.client.post(`/settings/tokens/${token.id}/revoke`);
    assert.equal(revoked.status, 303);
    assert.equal((await call(token.value, 'GET', '/tablos')).status, 401);
    assert.ok(!(await person.client.get('/settings/tokens')).html.includes(`id="token-${token.id}"`));
    // Someone else's token: 404, nothing revoked.
    const other = await newToken(person);
    await owner.client.get('/settings/tokens');
    assert.equal((await owner.client.post(`/settings/tokens/${other.id}/revoke`)).status, 404);
    assert.equal((await call(other.value, 'GET', '/tablos')).status, 200);
  });

  it('revoking one closes its open event streams at once', async () => {
    const person = await registerPerson(app.url, 'Uma');
    const own = await createTablo(person, 'Uma’s');
    const token = await newToken(person);
    const stream = await openApiStream(token.value, own);
    assert.equal(stream.status, 200);
    await person.client.get('/settings/tokens');
    await person.client.post(`/settings/tokens/${token.id}/revoke`);
    assert.equal(await ended(stream, 5_000), 'ended');
    assert.equal((await openApiStream(token.value, own)).status, 401);
  });
});

describe('the routes', () => {
  it('GET /tablos lists the tablos the account belongs to', async () => {
    const answer = await call(memberToken, 'GET', '/tablos');
    assert.equal(answer.status, 200);
    const tablos = (answer.body as { tablos: { id: number; title: string; last_seq: number }[] }).tablos;
    assert.deepEqual(tablos.map((t) => [t.id, t.title]), [[tabloId, 'API room']]);
    assert.deepEqual((await call(strangerToken, 'GET', '/tablos')).body, { tablos: [] });
  });

  it('a tablo the account is not a member of, or that does not exist, is 404 on every route', async () => {
    for (const [method, path, body] of [
      ['GET', `/tablos/${tabloId}/messages`],
      ['POST', `/tablos/${tabloId}/messages`, { body: 'hello' }],
      ['PATCH', `/tablos/${tabloId}/messages/1`, { body: 'x' }],
      ['DELETE', `/tablos/${tabloId}/messages/1`],
      ['GET', '/tablos/999999/messages'],
    ] as const) {
      const answer = await call(strangerToken, method, path, body);
      assert.equal(answer.status, 404, `${method} ${path}`);
    }
    assert.equal((await openApiStream(strangerToken, tabloId)).status, 404);
    assert.equal((await api(app.url, strangerToken, 'GET', '/tablos/abc/messages')).status, 404);
  });

  it('posts (201), and the same client_token again answers the same message (200), storing one', async () => {
    const first = await call(memberToken, 'POST', `/tablos/${tabloId}/messages`, { body: '  **hello** from a script  ', client_token: 'once-1' });
    assert.equal(first.status, 201);
    const message = messageOf(first);
    assert.equal(message.body, '**hello** from a script');
    assert.deepEqual(message.author, { id: member.id, name: 'Mina', handle: message.author.handle });
    assert.equal(message.version, 1);
    const again = await call(memberToken, 'POST', `/tablos/${tabloId}/messages`, { body: 'different text', client_token: 'once-1' });
    assert.equal(again.status, 200);
    assert.deepEqual(messageOf(again), message);
    const stored = await app.db.selectFrom('messages').select('id').where('client_token', '=', 'once-1').execute();
    assert.equal(stored.length, 1);
    // The page shows it too: one log for both.
    assert.match((await member.client.get(`/tablos/${tabloId}/discussion`)).html, new RegExp(`id="message-${message.id}"`));
  });

  it('422 for an invalid post, nothing stored', async () => {
    const before = await app.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    for (const body of [{}, { body: '   ' }, { body: 'x'.repeat(5001) }, { body: 42 }, { body: 'ok', client_token: 'x'.repeat(65) }, { body: 'ok', reply_to: 999999 }, { body: 'nul \u0000' }]) {
      const answer = await call(ownerToken, 'POST', `/tablos/${tabloId}/messages`, body);
      assert.equal(answer.status, 422, JSON.stringify(body).slice(0, 60));
    }
    assert.equal((await api(app.url, ownerToken, 'POST', `/tablos/${tabloId}/messages`, '{not json')).status, 400);
    const afterwards = await app.db.selectFrom('messages').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow();
    assert.equal(afterwards.n, before.n);
  });

  it('replies carry reply_to; a message has its reactions; 5,000 characters of emoji travel whole', async () => {
    const original = messageOf(await call(ownerToken, 'POST', `/tablos/${tabloId}/messages`, { body: 'the original' }));
    const reply = messageOf(await call(memberToken, 'POST', `/tablos/${tabloId}/messages`, { body: 'a reply', reply_to: original.id }));
    assert.equal(reply.reply_to, original.id);
    await member.client.get(`/tablos/${tabloId}/discussion`);
    await member.client.post(`/tablos/${tabloId}/discussion/messages/${original.id}/reactions`, { emoji: '👍' });
    const page = (await call(ownerToken, 'GET', `/tablos/${tabloId}/messages?after=${original.seq - 1}&limit=1`)).body as { messages: Message[] };
    assert.deepEqual(page.messages[0]!.reactions, [{ emoji: '👍', count: 1, user_ids: [member.id] }]);
    const long = '😀'.repeat(5000);
    const posted = await call(memberToken, 'POST', `/tablos/${tabloId}/messages`, { body: long });
    assert.equal(messageOf(posted).body, long);
  });

  it('PATCH: the author edits (200, version up); anyone else 403; unknown 404; invalid 422', async () => {
    const mine = messageOf(await call(memberToken, 'POST', `/tablos/${tabloId}/messages`, { body: 'draft' }));
    const edited = await call(memberToken, 'PATCH', `/tablos/${tabloId}/messages/${mine.id}`, { body: 'final' });
    assert.equal(edited.status, 200);
    assert.equal(messageOf(edited).body, 'final');
    assert.equal(messageOf(edited).version, 2);
    assert.equal((await call(ownerToken, 'PATCH', `/tablos/${tabloId}/messages/${mine.id}`, { body: 'hijack' })).status, 403);
    assert.equal((await call(memberToken, 'PATCH', `/tablos/${tabloId}/messages/${mine.id}`, { body: '' })).status, 422);
    assert.equal((await call(memberToken, 'PATCH', `/tablos/${tabloId}/messages/999999`, { body: 'x' })).status, 404);
  });

  it('DELETE: the author or the owner (204); another member 403; deleted ones leave the list', async () => {
    const byOwner = messageOf(await call(ownerToken, 'POST', `/tablos/${tabloId}/messages`, { body: 'owner says' }));
    assert.equal((await call(memberToken, 'DELETE', `/tablos/${tabloId}/messages/${byOwner.id}`)).status, 403);
    const byMember = messageOf(await call(memberToken, 'POST', `/tablos/${tabloId}/messages`, { body: 'member says' }));
    assert.equal((await call(ownerToken, 'DELETE', `/tablos/${tabloId}/messages/${byMember.id}`)).status, 204);
    assert.equal((await call(ownerToken, 'DELETE', `/tablos/${tabloId}/messages/${byOwner.id}`)).status, 204);
    assert.equal((await call(ownerToken, 'DELETE', `/tablos/${tabloId}/messages/${byOwner.id}`)).status, 404);
    const listed = ((await call(ownerToken, 'GET', `/tablos/${tabloId}/messages?limit=100`)).body as { messages: Message[] }).messages;
    assert.ok(!listed.some((m) => m.id === byOwner.id || m.id === byMember.id));
  });

  it('pages: after, before, limit (1–100), oldest first; out of range 422', async () => {
    // Seven posters, one message each: the test app allows five posts a minute per person.
    const writer = await registerPerson(app.url, 'Pia');
    const token = (await newToken(writer)).value;
    const tablo = await createTablo(writer, 'Paging');
    for (let i = 1; i <= 7; i++) {
      const poster = await registerPerson(app.url, `P${i}`);
      await addMember(app.db, tablo, poster.id);
      await postOk(poster, tablo, `m${i}`);
    }
    const bodies = async (query: string) => ((await call(token, 'GET', `/tablos/${tablo}/messages${query}`)).body as { messages: Message[] }).messages.map((m) => m.body);
    assert.deepEqual(await bodies(''), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    assert.deepEqual(await bodies('?after=2&limit=3'), ['m3', 'm4', 'm5']);
    assert.deepEqual(await bodies('?before=6&limit=2'), ['m4', 'm5']);
    assert.deepEqual(await bodies('?limit=2'), ['m6', 'm7']);
    for (const query of ['?limit=0', '?limit=101', '?limit=x', '?after=-1', '?after=1&before=3']) {
      assert.equal((await call(token, 'GET', `/tablos/${tablo}/messages${query}`)).status, 422, query);
    }
  });

  it('the posting limit counts API posts with the page’s: 429 with Retry-After', async () => {
    const person = await registerPerson(app.url, 'Lim');
    const tablo = await createTablo(person, 'Limits');
    const token = (await newToken(person)).value;
    await postOk(person, tablo, 'from the page');
    for (let i = 0; i < 4; i++) assert.equal((await call(token, 'POST', `/tablos/${tablo}/messages`, { body: `api ${i}` })).status, 201);
    const refused = await call(token, 'POST', `/tablos/${tablo}/messages`, { body: 'one too many' });
    assert.equal(refused.status, 429);
    assert.match(refused.headers.get('retry-after') ?? '', /^\d+$/);
  });

  it('the OpenAPI document is public and unknown API routes answer JSON 404', async () => {
    const doc = await api(app.url, undefined, 'GET', '/openapi.json');
    assert.equal(doc.status, 200);
    assert.equal((doc.body as { openapi: string }).openapi, '3.1.0');
    const unknown = await api(app.url, ownerToken, 'GET', '/nothing-here');
    assert.equal(unknown.status, 404);
    assert.equal(typeof (unknown.body as { error: unknown }).error, 'string');
  });
});

describe('bots', () => {
  it('the owner makes one: a member shown as a bot, its token once, a handle from its name, no browser sign-in', async () => {
    const made = await newBot(owner, tabloId, { name: 'Deploy Bot' });
    assert.equal(made.status, 200);
    assert.match(made.token ?? '', /^tablo_[A-Za-z0-9_-]{43}$/);
    assert.equal(made.secret, undefined);
    const bot = await app.db.selectFrom('users').select(['handle', 'bot', 'email']).where('id', '=', made.botId).executeTakeFirstOrThrow();
    assert.equal(bot.handle, 'deploy-bot');
    assert.equal(bot.bot, true);
    const page = await owner.client.get(`/tablos/${tabloId}`);
    assert.match(page.html, new RegExp(`data-user-id="${made.botId}" data-handle="deploy-bot">[\\s\\S]*?member-bot`));
    const posted = await call(made.token, 'POST', `/tablos/${tabloId}/messages`, { body: 'deploy done' });
    assert.equal(posted.status, 201);
    assert.equal(messageOf(posted).author.handle, 'deploy-bot');
    const login = await owner.client.post('/login', { email: bot.email, password: '!' });
    assert.equal(login.status, 401);
    // Only the owner: a member gets 403, a stranger 404.
    await member.client.get(`/tablos/${tabloId}`);
    assert.equal((await member.client.post(`/tablos/${tabloId}/bots`, { name: 'Sneaky' })).status, 403);
    await stranger.client.get('/tablos');
    assert.equal((await stranger.client.post(`/tablos/${tabloId}/bots`, { name: 'Sneaky' })).status, 404);
  });

  it('a handle taken, a bad name or a private webhook URL is 422; a public one gets a whsec_ secret', async () => {
    assert.equal((await newBot(owner, tabloId, { name: 'Twin', handle: owner.client ? (await app.db.selectFrom('users').select('handle').where('id', '=', owner.id).executeTakeFirstOrThrow()).handle : '' })).status, 422);
    assert.equal((await newBot(owner, tabloId, { name: '' })).status, 422);
    for (const url of ['http://127.0.0.1:9/hook', 'http://localhost/hook', 'http://10.0.0.1/hook', 'http://[::1]/hook', 'http://169.254.169.254/', 'ftp://93.184.215.14/x']) {
      assert.equal((await newBot(owner, tabloId, { name: 'Hooky', webhook_url: url })).status, 422, url);
    }
    const hooked = await newBot(owner, tabloId, { name: 'Hooky', handle: 'hooky', webhook_url: 'https://93.184.215.14/hook' });
    assert.equal(hooked.status, 200);
    assert.match(hooked.secret ?? '', /^whsec_[A-Za-z0-9+/]+=*$/);
    assert.ok(Buffer.from(hooked.secret!.slice(6), 'base64').length >= 24);
    const stored = await app.db.selectFrom('bots').select(['webhook_url', 'webhook_secret']).where('user_id', '=', hooked.botId).executeTakeFirstOrThrow();
    assert.deepEqual(stored, { webhook_url: 'https://93.184.215.14/hook', webhook_secret: hooked.secret });
    assert.ok(!(await owner.client.get(`/tablos/${tabloId}/bots/${hooked.botId}`)).html.includes(hooked.secret!));
  });

  it('rotating the token ends the old one (and its streams); deleting the bot ends all and keeps its messages', async () => {
    const made = await newBot(owner, tabloId, { name: 'Rota' });
    const posted = messageOf(await call(made.token, 'POST', `/tablos/${tabloId}/messages`, { body: 'bot message' }));
    const stream = await openApiStream(made.token!, tabloId);
    assert.equal(stream.status, 200);
    await owner.client.get(`/tablos/${tabloId}/bots/${made.botId}`);
    const rotated = await owner.client.post(`/tablos/${tabloId}/bots/${made.botId}/token`);
    assert.equal(await ended(stream, 5_000), 'ended');
    const fresh = /id="new-token-value"[^>]*>([^<]+)</.exec(rotated.html)?.[1];
    assert.ok(fresh && fresh !== made.token);
    assert.equal((await call(made.token, 'GET', '/tablos')).status, 401);
    assert.equal((await call(fresh, 'GET', '/tablos')).status, 200);

    const second = await openApiStream(fresh, tabloId);
    await member.client.get(`/tablos/${tabloId}`);
    assert.equal((await member.client.post(`/tablos/${tabloId}/bots/${made.botId}/delete`)).status, 403);
    await owner.client.get(`/tablos/${tabloId}/bots/${made.botId}`);
    assert.equal((await owner.client.post(`/tablos/${tabloId}/bots/${made.botId}/delete`)).status, 303);
    assert.equal(await ended(second, 5_000), 'ended');
    assert.equal((await call(fresh, 'GET', '/tablos')).status, 401);
    assert.equal((await owner.client.get(`/tablos/${tabloId}/bots/${made.botId}`)).status, 404);
    const kept = ((await call(ownerToken, 'GET', `/tablos/${tabloId}/messages?limit=100`)).body as { messages: Message[] }).messages;
    assert.ok(kept.some((m) => m.id === posted.id && m.author.id === made.botId));
  });
});

function openApiStream(token: string, tablo: number, after?: number) {
  const client = { request: (url: string, init: RequestInit) => fetch(new URL(url, app.url), { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), Authorization: `Bearer ${token}` } }) };
  return openStream(client as never, tablo, { url: `/api/v1/tablos/${tablo}/events${after === undefined ? '' : `?after=${after}`}` });
}

describe('files through the API', () => {
  const upload = (token: string | undefined, tablo: number, form: FormData) =>
    fetch(new URL(`/api/v1/tablos/${tablo}/files`, app.url), {
      method: 'POST',
      headers: token === undefined ? {} : { Authorization: `Bearer ${token}` },
      body: form,
    }).then(async (response) => ({ status: response.status, headers: response.headers, body: JSON.parse((await response.text()) || 'null') as unknown }));

  it('a PNG and a text file become two messages listing their attachments (type sniffed); strangers 404, no file 422', async () => {
    const person = await registerPerson(app.url, 'Fay');
    const tablo = await createTablo(person, 'Uploads');
    const token = (await newToken(person)).value;
    const form = new FormData();
    form.append('body', 'the chart and the notes');
    form.append('file', new Blob([new Uint8Array(await pngOf(40, 30))]), 'chart.txt'); // named .txt: the bytes say PNG
    form.append('file', new Blob(['plain words']), 'notes.txt');
    const answer = await upload(token, tablo, form);
    checkAnswer('POST', `/tablos/${tablo}/files`, answer);
    assert.equal(answer.status, 201);
    const [chart, notes] = (answer.body as { messages: (Message & { attachments: { type: string; url: string; thumbnail_url: string | null; size: number }[] })[] }).messages;
    assert.equal(chart!.body, 'the chart and the notes');
    assert.equal(chart!.attachments[0]!.type, 'image/png');
    assert.ok(chart!.attachments[0]!.thumbnail_url?.startsWith('/files/'));
    assert.equal(notes!.body, '');
    assert.equal(notes!.attachments[0]!.size, 'plain words'.length);
    assert.equal(notes!.attachments[0]!.thumbnail_url, null);
    // The same messages, as the API lists them.
    const listed = await call(token, 'GET', `/tablos/${tablo}/messages`);
    assert.deepEqual((listed.body as { messages: Message[] }).messages.map((m) => m.id), [chart!.id, notes!.id]);

    const stranger = await registerPerson(app.url, 'Gus');
    const strangersToken = (await newToken(stranger)).value;
    const again = new FormData();
    again.append('file', new Blob(['x']), 'x.txt');
    assert.equal((await upload(strangersToken, tablo, again)).status, 404);
    assert.equal((await upload(undefined, tablo, again)).status, 401);
    const empty = new FormData();
    empty.append('body', 'no file here');
    const refused = await upload(token, tablo, empty);
    assert.equal(refused.status, 422);
    const after = await call(token, 'GET', `/tablos/${tablo}/messages`);
    assert.equal((after.body as { messages: Message[] }).messages.length, 2, 'nothing stored by the refused ones');
  });
});
