/**
 * Group commit: posts to one tablo that arrive while a statement for it is in flight are stored
 * together by the next one — numbered in arrival order, each answered on its own, a client_token
 * seen before (or twice in one batch) answering the message stored first, and one post that
 * spoils the statement failing alone. Against the real database, with the Postgres bus's notices.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { Mentions } from '../src/discussion/mentions.ts';
import { PostQueue } from '../src/discussion/post-queue.ts';
import { type TestApp, startTestApp } from './support/app.ts';
import { createTablo, type Person, registerPerson } from './support/client.ts';

const none: Mentions = { userIds: [], all: false, mentions: [] };

let app: TestApp;
let ada: Person;
let bob: Person;

before(async () => {
  app = await startTestApp({ env: { REALTIME_BUS: 'postgres' } });
  [ada, bob] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob')]);
});
after(async () => {
  await app?.close();
});

/** The tablo's log as stored: seq, message id, body, in seq order. */
async function logOf(tabloId: number) {
  const { rows } = await sql<{ seq: number; message_id: number; body: string; kind: string }>`
    SELECT e.seq, e.message_id, m.body, e.kind FROM tablo_events e JOIN messages m ON m.id = e.message_id
    WHERE e.tablo_id = ${tabloId} ORDER BY e.seq`.execute(app.db);
  return rows;
}

async function lastSeq(tabloId: number): Promise<number> {
  const row = await app.db.selectFrom('tablos').select('last_seq').where('id', '=', tabloId).executeTakeFirstOrThrow();
  return row.last_seq;
}

function post(tabloId: number, body: string, options: { author?: Person; token?: string; mentions?: Mentions; replyTo?: number } = {}) {
  return { tabloId, authorId: (options.author ?? ada).id, body, clientToken: options.token, replyTo: options.replyTo, mentions: options.mentions ?? none };
}

describe('PostQueue', () => {
  it('stores the posts that wait behind one statement together, numbered in the order they arrived', async () => {
    const tabloId = await createTablo(ada);
    const before = await lastSeq(tabloId);
    const queue = new PostQueue(app.db);
    const seen = new Set<number>();
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => queue.store(post(tabloId, `post ${i}`), app.live.announceInserted)));
    assert.deepEqual(
      answers.map((a) => a.message.seq),
      Array.from({ length: 20 }, (_, i) => before + i + 1),
      'arrival order is seq order, without gaps',
    );
    for (const a of answers) {
      assert.equal(a.created, true);
      seen.add(a.message.id);
    }
    assert.equal(seen.size, 20);
    const log = await logOf(tabloId);
    assert.deepEqual(
      log.filter((e) => e.seq > before).map((e) => [e.seq, e.body, e.kind]),
      answers.map((a, i) => [a.message.seq, `post ${i}`, 'created']),
      'every message has its created event at its seq',
    );
    assert.equal(await lastSeq(tabloId), before + 20);
    // The first went alone; the 19 that waited behind it went in one statement: their rows share a transaction.
    const { rows } = await sql<{ xids: number }>`
      SELECT count(DISTINCT xmin::text)::int AS xids FROM messages WHERE tablo_id = ${tabloId} AND seq > ${before}`.execute(app.db);
    assert.equal(rows[0]?.xids, 2, 'two commits for twenty posts');
  });

  it('answers a client_token seen before, or twice in one batch, with the message stored first', async () => {
    const tabloId = await createTablo(ada);
    const queue = new PostQueue(app.db);
    const earlier = await queue.store(post(tabloId, 'first try', { token: 'tok-1' }), app.live.announceInserted);
    const before = await lastSeq(tabloId);
    const [blocker, retry, fresh, twinA, twinB, bobsOwn] = await Promise.all([
      queue.store(post(tabloId, 'goes alone'), app.live.announceInserted),
      queue.store(post(tabloId, 'second try', { token: 'tok-1' }), app.live.announceInserted),
      queue.store(post(tabloId, 'fresh', { token: 'tok-2' }), app.live.announceInserted),
      queue.store(post(tabloId, 'twin', { token: 'tok-3' }), app.live.announceInserted),
      queue.store(post(tabloId, 'twin again', { token: 'tok-3' }), app.live.announceInserted),
      // Another author's token is theirs alone.
      queue.store(post(tabloId, 'bob with the same token', { token: 'tok-3', author: bob }), app.live.announceInserted),
    ]);
    assert.equal(blocker!.created, true);
    assert.deepEqual([retry!.created, retry!.message.id, retry!.message.body], [false, earlier.message.id, 'first try']);
    assert.equal(fresh!.created, true);
    assert.equal(twinA!.created, true);
    assert.deepEqual([twinB!.created, twinB!.message.id, twinB!.message.body], [false, twinA!.message.id, 'twin']);
    assert.equal(bobsOwn!.created, true);
    assert.notEqual(bobsOwn!.message.id, twinA!.message.id);
    assert.deepEqual(
      (await logOf(tabloId)).filter((e) => e.seq > before).map((e) => e.body),
      ['goes alone', 'fresh', 'twin', 'bob with the same token'],
      'nothing stored twice, no seq taken by a retry',
    );
    assert.equal(await lastSeq(tabloId), before + 4);
  });

  it('a post that spoils the batch fails alone; the others are stored in order', async () => {
    const tabloId = await createTablo(ada);
    const queue = new PostQueue(app.db);
    const before = await lastSeq(tabloId);
    const outcomes = await Promise.allSettled([
      queue.store(post(tabloId, 'goes alone'), app.live.announceInserted),
      queue.store(post(tabloId, 'kept 1'), app.live.announceInserted),
      // A reply to a message that does not exist breaks the foreign key (the route checks it first; here the statement does).
      queue.store(post(tabloId, 'bad reply', { replyTo: 2_000_000_000 }), app.live.announceInserted),
      queue.store(post(tabloId, 'kept 2'), app.live.announceInserted),
    ]);
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
    );
    assert.deepEqual(
      (await logOf(tabloId)).filter((e) => e.seq > before).map((e) => [e.seq - before, e.body]),
      [
        [1, 'goes alone'],
        [2, 'kept 1'],
        [3, 'kept 2'],
      ],
      'the failed post took no number',
    );
  });

  it('writes each message’s mentions with it, and keeps tablos apart', async () => {
    const one = await createTablo(ada, 'One');
    const two = await createTablo(ada, 'Two');
    const queue = new PostQueue(app.db);
    const mentionsBob: Mentions = { userIds: [bob.id], all: false, mentions: [{ userId: bob.id, handle: 'bob' }] };
    const [, a, b, c] = await Promise.all([
      queue.store(post(one, 'goes alone'), app.live.announceInserted),
      queue.store(post(one, 'hi @bob', { mentions: mentionsBob }), app.live.announceInserted),
      queue.store(post(one, 'hi @all', { mentions: { ...none, all: true } }), app.live.announceInserted),
      queue.store(post(two, 'elsewhere @bob', { mentions: mentionsBob }), app.live.announceInserted),
    ]);
    const mentionsOf = (id: number) => app.db.selectFrom('mentions').select(['user_id', 'handle']).where('message_id', '=', id).execute();
    assert.deepEqual(await mentionsOf(a!.message.id), [{ user_id: bob.id, handle: 'bob' }]);
    assert.deepEqual(await mentionsOf(b!.message.id), []);
    assert.deepEqual(await mentionsOf(c!.message.id), [{ user_id: bob.id, handle: 'bob' }]);
    const flags = await app.db.selectFrom('messages').select(['id', 'mentions_all']).where('id', 'in', [a!.message.id, b!.message.id]).orderBy('id').execute();
    assert.deepEqual(flags.map((f) => f.mentions_all), [false, true]);
    assert.equal(c!.message.tabloId, two);
    assert.equal(c!.message.seq, (await lastSeq(two)));
  });
});
