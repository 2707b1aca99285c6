import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type ChangeEvent, type Message, type StreamItem, TabloClient } from '@tablo/client';
import { storeMessage } from '../src/discussion/messages.ts';
import { api, newBot, newToken } from './support/api.ts';
import { startTwoInstances, type TestApp } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import { addMember, eventually } from './support/discussion.ts';
import { ended, onInstance } from './support/members.ts';
import { openStream, type SseStream } from './support/sse.ts';

/**
 * The API's event stream on two instances sharing one PostgreSQL (REALTIME_BUS=postgres): exact
 * (ids 1..N, each once, in order) for a @tablo/client consumer whose connection is cut every
 * 50 ms while several writers post, edit and delete on both instances; and revocations made on
 * one instance close the streams open on the other.
 */
const env = { REALTIME_BUS: 'postgres', POST_RATE_LIMIT: '0' };

let a: TestApp;
let b: TestApp;
let owner: Person;
let writer: Person;

before(async () => {
  [a, b] = await startTwoInstances(env);
  [owner, writer] = await Promise.all([registerPerson(a.url, 'Olga'), registerPerson(a.url, 'Wes')]);
});
after(async () => {
  try {
    await b?.close();
  } finally {
    await a?.close();
  }
});


function apiStream(instance: TestApp, token: string, tabloId: number): Promise<SseStream> {
  const client = {
    request: (url: string, init: RequestInit) =>
      fetch(new URL(url, instance.url), { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), Authorization: `Bearer ${token}` } }),
  };
  return openStream(client as unknown as Client, tabloId, { url: `/api/v1/tablos/${tabloId}/events` });
}

/**
 * A fetch for the client that alternates between the instances and cuts every event-stream
 * connection 50 ms after it opens: the client must reconnect and resume exactly, again and again.
 */
function cuttingFetch(counter: { connections: number }): typeof fetch {
  return async (input, init) => {
    const url = new URL(String(input));
    if (!url.pathname.endsWith('/events')) return fetch(input, init);
    const target = new URL(url.pathname + url.search, counter.connections++ % 2 === 0 ? a.url : b.url);
    const cut = new AbortController();
    init?.signal?.addEventListener('abort', () => cut.abort(), { once: true });
    setTimeout(() => cut.abort(), 50).unref();
    return fetch(target, { ...init, signal: cut.signal });
  };
}

describe('the JSON event stream', () => {
  it('is exact for a client cut every 50 ms, across two instances, with concurrent writers', async () => {
    const tabloId = await createTablo(owner, 'Exactness');
    await addMember(a.db, tabloId, writer.id);
    const [ownerToken, writerToken] = [(await newToken(owner)).value, (await newToken(writer)).value];
    const writers = [
      new TabloClient({ baseUrl: a.url, token: ownerToken }),
      new TabloClient({ baseUrl: b.url, token: writerToken }),
      new TabloClient({ baseUrl: b.url, token: ownerToken }),
    ];

    const counter = { connections: 0 };
    const reader = new TabloClient({ baseUrl: a.url, token: writerToken, fetch: cuttingFetch(counter), backoff: { initialMs: 5, maxMs: 100 } });
    const controller = new AbortController();
    const received: StreamItem[] = [];
    const reading = (async () => {
      for await (const item of reader.events(tabloId, { signal: controller.signal })) received.push(item);
    })();

    // Each writer posts, and now and then edits or deletes one of its own messages.
    const PER_WRITER = 60;
    await Promise.all(
      writers.map(async (client, w) => {
        const mine: Message[] = [];
        for (let i = 1; i <= PER_WRITER; i++) {
          mine.push(await client.post(tabloId, `writer ${w} message ${i}`));
          if (i % 10 === 0) await client.edit(tabloId, mine[i - 3]!.id, `writer ${w} message ${i - 2}, edited`);
          if (i % 15 === 0) await client.delete(tabloId, mine[i - 5]!.id);
        }
      }),
    );
    const newest = (await writers[0]!.tablos()).find((t) => t.id === tabloId)!.last_seq;
    await eventually(async () => received.length > 0 && received.at(-1)!.seq >= newest, 60_000, `the client reaching seq ${newest}`);
    // Aborting ends the iterator even while it waits for the next event.
    controller.abort();
    await reading;

    assert.ok(counter.connections > 5, `the client reconnected (${counter.connections} connections)`);
    assert.ok(received.every((item) => item.type !== 'resync'), 'no resync: every reconnection resumed from its cursor');
    assert.deepEqual(received.map((item) => item.seq), Array.from({ length: newest }, (_, i) => i + 1), 'ids exactly 1..N, once each, in order');

    // The last event about each message shows it as the API does now.
    const last = new Map<number, ChangeEvent>();
    for (const item of received as ChangeEvent[]) last.set(item.message.id, item);
    const listed = new Map((await writers[0]!.messages(tabloId, { limit: 100, after: 0 })).map((m) => [m.id, m]));
    for (let page = [...listed.values()]; page.length === 100; ) {
      page = await writers[0]!.messages(tabloId, { limit: 100, after: page.at(-1)!.seq });
      for (const m of page) listed.set(m.id, m);
    }
    const deleted = [...last.values()].filter((e) => e.message.deleted);
    assert.equal(deleted.length, 3 * Math.floor(PER_WRITER / 15));
    for (const event of deleted) {
      assert.equal(event.type, 'message.deleted');
      assert.equal(event.message.body, null);
    }
    assert.deepEqual(
      [...last.values()].filter((e) => !e.message.deleted).map((e) => e.message).sort((x, y) => x.id - y.id),
      [...listed.values()].sort((x, y) => x.id - y.id),
    );
    assert.equal(received.filter((e) => e.type === 'message.created').length, 3 * PER_WRITER);
    assert.ok(received.some((e) => e.type === 'message.updated'));
  });

  it('frames each change as id, event and one data line of {seq, type, message}, after `after`', async () => {
    const tabloId = await createTablo(owner, 'Frames');
    const token = (await newToken(owner)).value;
    const client = new TabloClient({ baseUrl: a.url, token });
    const first = await client.post(tabloId, 'one');
    await client.post(tabloId, 'two');
    await client.edit(tabloId, first.id, 'one, edited');
    const stream = await apiStream(b, token, tabloId);
    assert.equal(stream.status, 200);
    assert.match(stream.response.headers.get('content-type') ?? '', /^text\/event-stream/);
    await client.post(tabloId, 'three'); // live, through the other instance
    await stream.waitFor((s) => s.events.length >= 4);
    assert.deepEqual(stream.events.map((e) => [e.id, e.type, e.fields]), [
      ['1', 'message.created', ['id', 'event', 'data']],
      ['2', 'message.created', ['id', 'event', 'data']],
      ['3', 'message.updated', ['id', 'event', 'data']],
      ['4', 'message.created', ['id', 'event', 'data']],
    ]);
    const third = JSON.parse(stream.events[2]!.data) as ChangeEvent;
    assert.deepEqual(Object.keys(third), ['seq', 'type', 'message']);
    assert.equal(third.seq, 3);
    assert.equal(third.message.body, 'one, edited');
    // A replayed creation shows the message as it is now (version 2), never staler.
    const replayed = JSON.parse(stream.events[0]!.data) as ChangeEvent;
    assert.deepEqual([replayed.type, replayed.message.version, replayed.message.body], ['message.created', 2, 'one, edited']);
    // Resuming after 2 gives 3 and 4 only.
    const resumed = await openStream({ request: (url: string, init: RequestInit) => fetch(new URL(url, a.url), { ...init, headers: { ...Object.fromEntries(new Headers(init.headers)), Authorization: `Bearer ${token}` } }) } as unknown as Client, tabloId, { url: `/api/v1/tablos/${tabloId}/events?after=2` });
    await resumed.waitFor((s) => s.events.length >= 2);
    assert.deepEqual(resumed.events.map((e) => e.id), ['3', '4']);
    resumed.close();
    stream.close();
  });

  it('over 500 events to replay: event resync with the newest seq as id, then live; the client yields {type: resync}', async () => {
    const tabloId = await createTablo(owner, 'Resync');
    const NO_MENTIONS = { userIds: [], all: false, mentions: [] };
    const token = (await newToken(owner)).value;
    const client = new TabloClient({ baseUrl: a.url, token });
    // Stored through the domain's statement without announcing them: the other instance need not load 501 changes.
    for (let i = 0; i < 501; i++) await storeMessage(a.db, { tabloId, authorId: owner.id, body: `m ${i}`, clientToken: undefined, mentions: NO_MENTIONS });
    const stream = await apiStream(b, token, tabloId);
    await stream.waitFor((s) => s.events.length >= 1);
    assert.deepEqual([stream.events[0]!.type, stream.events[0]!.id], ['resync', '501']);
    stream.close();
    const controller = new AbortController();
    const items: StreamItem[] = [];
    const reading = (async () => {
      for await (const item of client.events(tabloId, { signal: controller.signal })) {
        items.push(item);
        if (items.length === 1) await client.post(tabloId, 'after the resync');
        if (items.length === 2) break;
      }
    })();
    await reading;
    controller.abort();
    assert.deepEqual(items.map((i) => [i.type, i.seq]), [['resync', 501], ['message.created', 502]]);
  });

  it('a token revoked or a bot deleted on one instance closes its streams on the other within 10 s', async () => {
    const tabloId = await createTablo(owner, 'Revocations');
    const token = await newToken(owner);
    const stream = await apiStream(a, token.value, tabloId);
    assert.equal(stream.status, 200);
    const ownerOnB = await onInstance(b, owner);
    await ownerOnB.client.get('/settings/tokens');
    assert.equal((await ownerOnB.client.post(`/settings/tokens/${token.id}/revoke`)).status, 303);
    assert.equal(await ended(stream, 10_000), 'ended');
    assert.ok(stream.events.some((e) => e.type === 'signed-out'));

    const bot = await newBot(owner, tabloId, { name: 'Gone Soon' });
    const botStream = await apiStream(a, bot.token!, tabloId);
    assert.equal(botStream.status, 200);
    await ownerOnB.client.get(`/tablos/${tabloId}/bots/${bot.botId}`);
    assert.equal((await ownerOnB.client.post(`/tablos/${tabloId}/bots/${bot.botId}/delete`)).status, 303);
    assert.equal(await ended(botStream, 10_000), 'ended');
    assert.equal((await api(a.url, bot.token, 'GET', '/tablos')).status, 401);
  });

  it('a token revoked behind the app’s back (its row deleted) ends its stream at the periodic recheck', async () => {
    const tabloId = await createTablo(owner, 'Recheck');
    const token = await newToken(owner);
    const stream = await apiStream(b, token.value, tabloId);
    assert.equal(stream.status, 200);
    await a.db.deleteFrom('api_tokens').where('id', '=', token.id).execute();
    assert.equal(await ended(stream, 10_000), 'ended');
  });
});
