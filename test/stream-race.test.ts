/**
 * The removal race, made deterministic: a stream is paused (live.beforeSubscribe, a seam for
 * tests) after the route checked its access and before it subscribed. A removal or a sign-out
 * landing in that gap reaches no subscribed stream; the stream's own re-check, once subscribed
 * and before its headers, must refuse it (404 for ended access, 401 for an ended session). On one
 * instance, and with the stream on B while the removal goes through A.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { StreamOwner } from '../src/live/broker.ts';
import { type TestApp, startTwoInstances } from './support/app.ts';
import { Client, createTablo, type Person, registerPerson } from './support/client.ts';
import { addMember, eventually, postOk } from './support/discussion.ts';
import { onInstance } from './support/members.ts';
import { metric } from './support/metrics.ts';
import { openStream, type SseStream } from './support/sse.ts';

const env = { REALTIME_BUS: 'postgres' };
let a: TestApp;
let b: TestApp;
before(async () => {
  [a, b] = await startTwoInstances(env);
});
after(async () => {
  await b?.close();
  await a?.close();
});

/** Holds the next discussion stream opened on `app` in the gap; `release` lets it go on. */
function pauseNextStream(app: TestApp): { reached: Promise<StreamOwner>; release: () => void } {
  let release = () => {};
  const released = new Promise<void>((resolve) => (release = resolve));
  let reach: (owner: StreamOwner) => void = () => {};
  const reached = new Promise<StreamOwner>((resolve) => (reach = resolve));
  app.live.beforeSubscribe = async (owner) => {
    app.live.beforeSubscribe = undefined;
    reach(owner);
    await released;
  };
  return { reached, release };
}


const CLOSES_HEARD = 'tablo_bus_notifications_total{kind="close"}';
const heardOnB = (before: number) => eventually(async () => (await metric(b, CLOSES_HEARD)) > before, 10_000, 'B to hear the revocation');
const closedAs = (reason: 'access-ended' | 'signed-out') => `tablo_streams_closed_total{reason="${reason}"}`;

/**
 * Opens `reader`'s stream on `streamOn` paused in the gap, runs `revoke` there, releases it, and
 * checks that the revocation found no subscribed stream and that the re-check refused it: the
 * status says why, and the close is counted with that reason where the stream ran.
 */
async function raceInTheGap(
  streamOn: TestApp,
  reader: Person,
  tablo: number,
  why: 'access-ended' | 'signed-out',
  revoke: () => Promise<void>,
): Promise<SseStream> {
  const gate = pauseNextStream(streamOn);
  const subscribedBefore = streamOn.live.broker.discussionStreams;
  const closedBefore = await metric(streamOn, closedAs(why));
  // The access check passes; the headers wait for the re-check, after the gap.
  const opening = openStream(reader.client, tablo);
  const owner = await gate.reached;
  assert.equal(owner.userId, reader.id);
  assert.equal(owner.tabloId, tablo);

  await revoke();
  // The revocation has done all it will: nothing was subscribed for it to close.
  assert.equal(streamOn.live.broker.discussionStreams, subscribedBefore, 'the paused stream is not subscribed yet');

  gate.release();
  const stream = await opening;
  assert.equal(stream.status, why === 'access-ended' ? 404 : 401, 'refused by its re-check once subscribed');
  await stream.ended;
  assert.deepEqual(stream.messages, [], 'having shown no message');
  assert.equal(await metric(streamOn, closedAs(why)), closedBefore + 1, `counted as ${why} where it ran`);
  assert.equal(streamOn.live.broker.discussionStreams, subscribedBefore, 'and unsubscribed');
  return stream;
}

describe('a stream opening while its access ends', () => {
  it('a removal between the access check and the subscription closes it (one instance)', async () => {
    const [ada, bob] = await Promise.all([registerPerson(a.url, 'Ada'), registerPerson(a.url, 'Bob')]);
    const tablo = await createTablo(ada, 'Removed while opening');
    await addMember(a.db, tablo, bob.id);
    await ada.client.get(`/tablos/${tablo}`);
    await raceInTheGap(a, bob, tablo, 'access-ended', async () => {
      assert.equal((await ada.client.post(`/tablos/${tablo}/members/${bob.id}/remove`)).status, 303);
    });
    // Control: a stream opened the same way by someone who keeps access stays open.
    await ada.client.get(`/tablos/${tablo}/discussion`);
    const gate = pauseNextStream(a);
    const opening = openStream(ada.client, tablo);
    await gate.reached;
    gate.release();
    const staying = await opening;
    assert.equal(staying.status, 200);
    const message = await postOk(ada, tablo, 'still here');
    await staying.waitForId(message.seq);
    assert.equal(staying.endedAs, undefined);
    staying.close();
  });

  it('a sign-out between the access check and the subscription closes it (one instance)', async () => {
    const cat = await registerPerson(a.url, 'Cat');
    const tablo = await createTablo(cat, 'Signed out while opening');
    await cat.client.get('/tablos');
    const racer = new Client(a.url);
    racer.setCookie('tablo.sid', cat.client.cookie('tablo.sid')!);
    await raceInTheGap(a, { ...cat, client: racer }, tablo, 'signed-out', async () => {
      assert.equal((await cat.client.post('/logout')).status, 303);
    });
  });

  it('a removal on A while the stream opens on B closes it', async () => {
    const [ada, bob] = await Promise.all([registerPerson(a.url, 'Ada'), registerPerson(a.url, 'Bob')]);
    const tablo = await createTablo(ada, 'Removed across');
    await addMember(a.db, tablo, bob.id);
    await ada.client.get(`/tablos/${tablo}`);
    const closesBefore = await metric(b, CLOSES_HEARD);
    await raceInTheGap(b, await onInstance(b, bob), tablo, 'access-ended', async () => {
      assert.equal((await ada.client.post(`/tablos/${tablo}/members/${bob.id}/remove`)).status, 303);
      await heardOnB(closesBefore); // A's revocation reached B, and found nothing there to close
    });
  });

  it('a sign-out on A while the stream opens on B closes it', async () => {
    const dan = await registerPerson(a.url, 'Dan');
    const tablo = await createTablo(dan, 'Signed out across');
    await dan.client.get('/tablos');
    const closesBefore = await metric(b, CLOSES_HEARD);
    await raceInTheGap(b, await onInstance(b, dan), tablo, 'signed-out', async () => {
      assert.equal((await dan.client.post('/logout')).status, 303);
      await heardOnB(closesBefore);
    });
  });
});
