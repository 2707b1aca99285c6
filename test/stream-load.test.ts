import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { type TestApp, startTestApp } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import { addMember, eventually, postMany, postOk } from './support/discussion.ts';
import { metric } from './support/metrics.ts';
import { openStream, type SseEvent } from './support/sse.ts';

// These tests post hundreds of messages as one person: no posting limit (limits.test.ts tests it).
const UNLIMITED = { POST_RATE_LIMIT: '0' };
let app: TestApp;
let ada: Person;
let bob: Person;
let cat: Person;
before(async () => {
  app = await startTestApp({ env: UNLIMITED });
  [ada, bob, cat] = await Promise.all([registerPerson(app.url, 'Ada'), registerPerson(app.url, 'Bob'), registerPerson(app.url, 'Cat')]);
});
after(() => app.close());

const SLOW_CLOSED = 'tablo_streams_closed_total{reason="slow-reader"}';
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A small seeded generator, so that a failing run can be told apart and its seed reported. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

/** Another signed-in session of the same person. */
async function anotherSession(person: Person): Promise<Person> {
  const client = new Client(app.url);
  await client.get('/login');
  const response = await client.post('/login', { email: person.email, password: person.password });
  assert.equal(response.status, 303);
  await client.get('/tablos');
  return { ...person, client };
}

/** The same session (its cookies and CSRF token) talking to another instance. */
function through(instance: TestApp, person: Person): Person {
  const client = new Client(instance.url);
  for (const name of ['tablo.sid', 'tablo.csrf']) client.setCookie(name, person.client.cookie(name)!);
  client.csrfToken = person.client.csrfToken;
  return { ...person, client };
}

/**
 * Six sessions of three people post 150 messages at once while five readers come and go at
 * random moments, resuming with Last-Event-ID as the browser does, each time through a randomly
 * chosen instance. Every reader must end with ids 1..150 exactly once, in order, each with the
 * stored message's fragment; and the connection open when posting ends must bring the rest
 * without any help from a reconnect.
 */
async function crowd(instances: TestApp[]): Promise<void> {
  const seed = Date.now() % 1_000_000;
  const rand = random(seed);
  const pick = <T>(items: T[]): T => items[Math.floor(rand() * items.length)]!;
  const [first] = instances;
  const tablo = await createTablo(ada, 'Crowded');
  await addMember(first!.db, tablo, bob.id);
  await addMember(first!.db, tablo, cat.id);
  const posters = [ada, bob, cat, await anotherSession(ada), await anotherSession(bob), await anotherSession(cat)];
  const readers = [ada, bob, cat, await anotherSession(ada), await anotherSession(cat)];
  const TOTAL = 150;

  let postingDone = false;
  let announceDone = () => {};
  const done = new Promise<void>((resolve) => (announceDone = resolve));
  const answers = new Map<number, string>();
  const reconnects: number[] = readers.map(() => 0);

  /** A reader like the browser's: keeps its page's `after=0`, resumes with Last-Event-ID, leaves at random. */
  const read = async (reader: Person, index: number): Promise<SseEvent[]> => {
    const received: SseEvent[] = [];
    let lastId: string | undefined;
    for (;;) {
      const wasDone = postingDone;
      const s = await openStream(through(pick(instances), reader).client, tablo, { after: 0, lastEventId: lastId });
      assert.equal(s.status, 200);
      const stay = sleep(5 + rand() * 120).then(() => 'stay over' as const);
      const why = await Promise.race([stay, done.then(() => 'posting done' as const)]);
      if (why === 'posting done' || wasDone) {
        // This connection was open (or opened) when the last message was posted: it brings the
        // rest by itself.
        await s.waitFor((x) => Number(x.messages.at(-1)?.id ?? lastId ?? 0) >= TOTAL, 20_000, `message ${TOTAL} on reader ${index}'s last connection`);
      }
      s.close();
      await s.ended;
      assert.equal(s.endedAs, 'aborted', 'the server never ends a reader’s stream here');
      assert.ok(!s.events.some((e) => e.type === 'resync'), 'no resync for a short absence');
      received.push(...s.messages);
      if (s.lastEventId) lastId = s.lastEventId;
      if (why === 'posting done' || wasDone) return received;
      reconnects[index]!++;
      if (rand() < 0.5) await sleep(rand() * 30);
    }
  };

  const post = async (poster: Person, count: number, label: string) => {
    for (let i = 1; i <= count; i++) {
      const article = await postOk(through(pick(instances), poster), tablo, `${label} #${i}`);
      answers.set(article.seq, article.html);
      if (rand() < 0.3) await sleep(rand() * 15);
    }
  };

  const reading = readers.map((reader, i) => read(reader, i));
  await sleep(20);
  await Promise.all(posters.map((poster, i) => post(poster, TOTAL / posters.length, `poster ${i}`)));
  postingDone = true;
  announceDone();
  const results = await Promise.all(reading);

  // The table: seq 1..TOTAL, one message each.
  const stored = await first!.db.selectFrom('messages').select(['seq']).where('tablo_id', '=', tablo).orderBy('seq').execute();
  assert.deepEqual(
    stored.map((r) => r.seq),
    range(1, TOTAL),
  );
  assert.equal(answers.size, TOTAL);

  for (const [i, events] of results.entries()) {
    const context = `reader ${i} (seed ${seed}, ${reconnects[i]} reconnects)`;
    assert.deepEqual(
      events.map((e) => Number(e.id)),
      range(1, TOTAL),
      context,
    );
    for (const e of events) assert.equal(e.data, answers.get(Number(e.id)), `${context}: data of ${e.id}`);
    assert.ok(reconnects[i]! >= 3, `${context}: it did come and go`);
  }
}

describe('many posters, readers coming and going', () => {
  it('gives every reader each message exactly once, in order, as stored (one instance)', async () => {
    await crowd([app]);
  });

  it('does the same across two instances sharing the database through the Postgres bus', async () => {
    const one = await startTestApp({ databaseUrl: app.databaseUrl, env: { ...UNLIMITED, REALTIME_BUS: 'postgres' } });
    const two = await startTestApp({ databaseUrl: app.databaseUrl, env: { ...UNLIMITED, REALTIME_BUS: 'postgres' } });
    try {
      await crowd([one, two]);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });
});

/** A raw socket that asks for Ada's stream of a tablo, reads the answer's first bytes, then never reads again. */
async function openStalledStream(tablo: number): Promise<{ socket: net.Socket; head: string }> {
  const { port } = new URL(app.url);
  const socket = net.connect(Number(port), '127.0.0.1');
  socket.on('error', () => {});
  const head = await new Promise<string>((resolve, reject) => {
    socket.once('data', (chunk: Buffer) => {
      socket.pause();
      resolve(chunk.toString('latin1'));
    });
    socket.once('error', reject);
    socket.write(
      [
        `GET /tablos/${tablo}/discussion/stream?after=0 HTTP/1.1`,
        `Host: 127.0.0.1:${port}`,
        'Accept: text/event-stream',
        `Cookie: tablo.sid=${ada.client.cookie('tablo.sid')}`,
        '',
        '',
      ].join('\r\n'),
    );
  });
  return { socket, head };
}

describe('a reader that stops reading', () => {
  it('is disconnected even while it is being caught up from the table', async () => {
    const tablo = await createTablo(ada, 'Backlog');
    // ~9 MB stored before the reader comes: more than loopback buffers hold, under the resync limit.
    await postMany(ada, tablo, 450, (i) => `${i} ${'😀'.repeat(4990)}`, 4);
    const baseline = app.live.openStreams;
    const slowBefore = await metric(app, SLOW_CLOSED);
    const { socket: slow } = await openStalledStream(tablo);
    await eventually(async () => app.live.openStreams === baseline + 1, 5_000, 'the stream to open');
    // Its catch-up waits for a socket that never drains; it must give up on the reader, as a slow one.
    await eventually(async () => app.live.openStreams === baseline, 30_000, 'the stuck reader to be let go');
    assert.equal(await metric(app, SLOW_CLOSED), slowBefore + 1, 'closed as a slow reader');
    slow.destroy();
  });

  it('is disconnected once its buffer fills, while a normal reader gets every message in order', async () => {
    const tablo = await createTablo(ada, 'Firehose');
    const baseline = app.live.openStreams;

    const normal = await openStream(ada.client, tablo, { after: 0 });
    assert.equal(normal.status, 200);
    const slowBefore = await metric(app, SLOW_CLOSED);
    const slowReadersBefore = await metric(app, 'tablo_slow_readers_disconnected_total');
    const slowLogsBefore = app.logs.matching('slow reader disconnected').length;

    const { socket: slow, head } = await openStalledStream(tablo);
    let slowClosed = false;
    slow.on('close', () => (slowClosed = true));
    assert.match(head, /^HTTP\/1\.1 200 /);
    await eventually(async () => app.live.openStreams === baseline + 2, 5_000, 'both streams to be counted');

    // Large messages until the server lets the slow reader go (its kernel buffers hold megabytes first).
    const answers = new Map<number, string>();
    let next = 1;
    const slowGone = () => app.live.openStreams <= baseline + 1;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (!slowGone() && next <= 4_000) {
          const i = next++;
          const article = await postOk(ada, tablo, `${i} ${'😀'.repeat(4990)}`);
          answers.set(article.seq, article.html);
        }
      }),
    );
    assert.ok(slowGone(), `the slow reader was still connected after ${answers.size} messages of ~20 KB`);
    assert.equal(normal.endedAs, undefined, 'the normal reader is still connected');

    // The server closed the slow reader's connection: reading it now ends well short of the last message.
    const newest = Math.max(...answers.keys());
    let unread = '';
    slow.on('data', (chunk: Buffer) => {
      unread = (unread + chunk.toString('latin1')).slice(-200_000);
    });
    slow.resume();
    await eventually(async () => slowClosed, 30_000, 'the slow socket to close');
    assert.ok(!unread.includes(`id: ${newest}\n`), 'the slow reader did not get everything');
    // It was closed as a slow reader, not for any other reason.
    assert.equal(await metric(app, SLOW_CLOSED), slowBefore + 1, 'closed as a slow reader');
    assert.equal(await metric(app, 'tablo_slow_readers_disconnected_total'), slowReadersBefore + 1);
    assert.equal(app.logs.matching('slow reader disconnected').length, slowLogsBefore + 1, 'and logged as one');

    // It comes back from the last message it received in full, and misses nothing.
    const received = [...unread.matchAll(/id: (\d+)\n(?:data: [^\n]*\n)+\n/g)].map((m) => Number(m[1]));
    const cursor = Math.max(...received);
    const resumed = await openStream(ada.client, tablo, { lastEventId: cursor });
    assert.equal(resumed.status, 200);
    if (newest - cursor <= 500) {
      await resumed.waitForId(newest, 60_000);
      assert.deepEqual(resumed.messageIds, range(cursor + 1, newest), 'exactly the messages after its cursor');
      for (const e of resumed.messages) assert.equal(e.data, answers.get(Number(e.id)), `data of ${e.id}`);
    } else {
      // What the kernel had accepted for it died with the connection: more than 500 behind, the
      // stream tells it to reload (README), and sends nothing it would have to skip.
      await resumed.waitFor((x) => x.events.length > 0, 10_000, 'the resync');
      assert.deepEqual(resumed.events.map((e) => [e.type, e.id]), [['resync', String(newest)]]);
    }
    resumed.close();

    // Everyone else missed nothing.
    const last = await postOk(ada, tablo, 'the end');
    answers.set(last.seq, last.html);
    await normal.waitForId(last.seq, 60_000);
    assert.deepEqual(normal.messageIds, range(1, last.seq));
    for (const e of normal.messages) assert.equal(e.data, answers.get(Number(e.id)), `data of ${e.id}`);
    assert.equal(normal.endedAs, undefined);
    normal.close();
  });
});
