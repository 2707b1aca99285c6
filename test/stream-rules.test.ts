/**
 * The discussion stream's ordering rules, through its MessageSource seam: an in-memory log stands
 * in for the table and a recording sink for the socket, so each rule runs in milliseconds.
 * Subscribe → read the newest seq → headers → backfill → live; a live event that skips a number
 * sends the stream back to the log; more than MAX_REPLAY to replay sends `resync`.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { Broker } from '../src/live/broker.ts';
import { streamOwner } from '../src/live/live.ts';
import { changeFrame, type LiveEvent } from '../src/live/sse.ts';
import { DiscussionStream, MAX_BUFFERED_BYTES, MAX_REPLAY, type MessageSource, type StreamSink } from '../src/live/stream.ts';

const TABLO = 7;

class RecordingSink extends EventEmitter implements StreamSink {
  started = false;
  ended = false;
  destroyed = false;
  writableLength = 0;
  private readonly chunks: string[] = [];
  start(): void {
    this.started = true;
  }
  write(chunk: string | Buffer): boolean {
    assert.ok(this.started, 'nothing is written before the headers');
    this.chunks.push(chunk.toString());
    return true;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  get text(): string {
    return this.chunks.join('');
  }
  /** The ids of the change events written, in order. */
  get ids(): number[] {
    return [...this.text.matchAll(/^id: (\d+)\ndata: /gm)].map((m) => Number(m[1]));
  }
}

/** A tablo's log in memory; reads can be held back to let live events arrive meanwhile. */
class MemoryLog implements MessageSource {
  events: LiveEvent[] = [];
  reads = 0;
  private held: Promise<void> | undefined;
  private release: () => void = () => {};
  access: 'signed-out' | 'access-ended' | undefined;
  failing = false;

  append(count: number): LiveEvent[] {
    const added = Array.from({ length: count }, (_, i) => event(this.events.length + i + 1));
    this.events.push(...added);
    return added;
  }
  hold(): void {
    this.held = new Promise((resolve) => (this.release = resolve));
  }
  letGo(): void {
    this.held = undefined;
    this.release();
  }
  newestSeq = async (): Promise<number | 'signed-out' | 'access-ended'> => {
    if (this.failing) throw new Error('the database does not answer');
    return this.access ?? this.events.length;
  };
  eventsAfter = async (afterSeq: number, limit: number): Promise<LiveEvent[]> => {
    this.reads++;
    await this.held;
    return this.events.filter((e) => e.seq > afterSeq).slice(0, limit);
  };
}

function event(seq: number): LiveEvent {
  return changeFrame(seq, `<article id="message-${seq}" data-seq="${seq}">${seq}</article>`);
}

function setUp() {
  const broker = new Broker({ keepAliveMs: 60_000 });
  const log = new MemoryLog();
  const sink = new RecordingSink();
  const stream = new DiscussionStream(streamOwner(1, 'session-1', TABLO), sink, log);
  return { broker, log, sink, stream, done: () => broker.stop() };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('the discussion stream’s ordering rules', () => {
  it('backfills after the cursor, then writes live events once each, in order', async () => {
    const { broker, log, sink, stream, done } = setUp();
    log.append(5);
    await stream.open(broker, 2);
    assert.deepEqual(sink.ids, [3, 4, 5]);
    for (const e of log.append(2)) broker.publish(TABLO, e);
    assert.deepEqual(sink.ids, [3, 4, 5, 6, 7]);
    broker.publish(TABLO, log.events[5]!); // a repeat of 6
    assert.deepEqual(sink.ids, [3, 4, 5, 6, 7]);
    done();
  });

  it('subscribes before it reads: events committed during the backfill are neither lost nor doubled', async () => {
    const { broker, log, sink, stream, done } = setUp();
    log.append(3);
    log.hold();
    const opening = stream.open(broker, 0);
    await settle();
    // Committed after the read began: the read may or may not see them, the subscription does.
    for (const e of log.append(2)) broker.publish(TABLO, e);
    log.letGo();
    await opening;
    await settle();
    assert.deepEqual(sink.ids, [1, 2, 3, 4, 5]);
    done();
  });

  it('a live event that skips a number sends the stream back to the log for the missing ones', async () => {
    const { broker, log, sink, stream, done } = setUp();
    log.append(2);
    await stream.open(broker, 0);
    const [, , fifth] = log.append(3); // 3, 4 committed but their notices are not here yet
    broker.publish(TABLO, fifth!);
    await settle();
    await settle();
    assert.deepEqual(sink.ids, [1, 2, 3, 4, 5]);
    done();
  });

  it('learning that the log reached a seq (after missed notices) fills up to it from the log', async () => {
    const { broker, log, sink, stream, done } = setUp();
    log.append(1);
    await stream.open(broker, 0);
    log.append(3);
    broker.reached(TABLO, 4);
    await settle();
    await settle();
    assert.deepEqual(sink.ids, [1, 2, 3, 4]);
    done();
  });

  it('numbers gone for good (their tablo deleted) do not keep the stream reading forever', async () => {
    const { broker, log, sink, stream, done } = setUp();
    log.append(1);
    await stream.open(broker, 0);
    const readsBefore = log.reads;
    broker.publish(TABLO, event(3)); // 2 will never be in the log
    await settle();
    await settle();
    assert.ok(log.reads - readsBefore <= 3, `read the log ${log.reads - readsBefore} times`);
    assert.deepEqual(sink.ids.slice(0, 1), [1]);
    done();
  });

  it(`more than ${MAX_REPLAY} to replay: resync with the newest seq as its id, then live`, async () => {
    const { broker, log, sink, stream, done } = setUp();
    log.append(MAX_REPLAY + 1);
    await stream.open(broker, 0);
    assert.match(sink.text, new RegExp(`id: ${MAX_REPLAY + 1}\\nevent: resync\\n`));
    assert.deepEqual(sink.ids, []);
    for (const e of log.append(1)) broker.publish(TABLO, e);
    assert.deepEqual(sink.ids, [MAX_REPLAY + 2]);
    done();
  });

  it('a cursor beyond the newest seq (a stale tab after a reset) is answered with resync', async () => {
    const { broker, log, sink, stream, done } = setUp();
    log.append(3);
    await stream.open(broker, 10);
    assert.match(sink.text, /id: 3\nevent: resync\n/);
    done();
  });

  it('answers before its headers when the session or the access has ended, or the database does not answer', async () => {
    for (const [why, expected] of [
      ['signed-out', 'signed-out'],
      ['access-ended', 'access-ended'],
      ['failing', 'error'],
    ] as const) {
      const { broker, log, sink, stream, done } = setUp();
      log.append(2);
      if (why === 'failing') log.failing = true;
      else log.access = why;
      await stream.open(broker, 0);
      assert.equal(stream.closedAs, expected);
      assert.equal(sink.started, false, `${why}: no headers, so the route can answer a status`);
      assert.equal(broker.openStreams, 0);
      done();
    }
  });

  it('a revocation that lands before the headers leaves the stream unstarted and unsubscribed', async () => {
    const { broker, log, sink, stream, done } = setUp();
    log.append(2);
    log.hold();
    const opening = stream.open(broker, 0);
    broker.closeStreams((owner) => owner.tabloId === TABLO, 'access-ended');
    log.letGo();
    await opening;
    assert.equal(stream.closedAs, 'access-ended');
    assert.equal(sink.started, false);
    assert.equal(broker.openStreams, 0);
    done();
  });

  it('a reader whose socket holds more than the bound is closed as a slow reader, not written to again', async () => {
    const { broker, log, sink, stream, done } = setUp();
    await stream.open(broker, 0);
    sink.writableLength = MAX_BUFFERED_BYTES + 1;
    for (const e of log.append(1)) broker.publish(TABLO, e);
    assert.equal(stream.closedAs, 'slow-reader');
    assert.equal(sink.destroyed, true);
    for (const e of log.append(1)) broker.publish(TABLO, e);
    assert.deepEqual(sink.ids, [1]);
    assert.equal(broker.openStreams, 0);
    done();
  });

  it('says goodbye with the reason when closed after it started', async () => {
    const { broker, sink, stream, done } = setUp();
    await stream.open(broker, 0);
    broker.closeStreams(() => true, 'signed-out');
    assert.match(sink.text, /event: signed-out\n/);
    assert.equal(sink.ended, true);
    done();
  });
});
