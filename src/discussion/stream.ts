import type { Response } from 'express';
import type { CloseReason, DiscussionBroker, StreamOwner, Subscriber } from './broker.ts';
import { KEEP_ALIVE, type LiveMessage, namedFrame, OPENING } from './sse.ts';

/** More than this many messages to replay: the client reloads instead (`event: resync`). */
export const MAX_REPLAY = 500;
/** A reader whose socket holds more than this unsent is too slow: it is closed and resumes later. */
export const MAX_BUFFERED_BYTES = 512 * 1024;
const MAX_PENDING = 1_000;
/** Stored messages are read this many at a time while catching up. */
const BACKFILL_BATCH = 100;
/**
 * While catching up, writing pauses (until the socket drains) above this many unsent bytes: a
 * backlog the stream itself is sending is not a sign of a slow reader, and must not be taken for
 * one (500 long messages are some 10 MB).
 */
const BACKFILL_HIGH_WATER = MAX_BUFFERED_BYTES / 4;
const DRAIN_TIMEOUT_MS = 10_000;

export type MessageSource = {
  /** The tablo's newest seq, or undefined when this reader may no longer see it. */
  newestSeq: () => Promise<number | undefined>;
  /** Committed messages with seq > afterSeq, oldest first, framed. */
  messagesAfter: (afterSeq: number, limit: number) => Promise<LiveMessage[]>;
};

export type StreamHooks = {
  written?: (owner: StreamOwner, message: LiveMessage) => void;
  named?: () => void;
  closed?: (owner: StreamOwner, reason: CloseReason) => void;
  /** A closing discussion stream's read position that was not taken yet (see takeReadPosition). */
  lastRead?: (owner: StreamOwner, seq: number) => void;
};

const FAREWELLS: Partial<Record<CloseReason, string>> = {
  'signed-out': namedFrame('signed-out'),
  'access-ended': namedFrame('access-ended'),
  // Come back soon (to this instance once restarted, or to another one).
  shutdown: namedFrame('server-restarting', '', { retryMs: 500 }),
};

/**
 * An open SSE response that belongs to one person: it carries named events for them, keep-alives,
 * and a farewell when it is closed. Writing never waits: a reader whose socket holds more than
 * MAX_BUFFERED_BYTES unsent is closed (it reconnects and resumes).
 */
export class EventStream implements Subscriber {
  protected closed = false;
  protected unsubscribe: () => void = () => {};

  constructor(
    readonly owner: StreamOwner,
    protected readonly res: Response,
    protected readonly hooks: StreamHooks = {},
  ) {}

  static start(res: Response): void {
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      // no-transform keeps any compression layer from buffering the stream
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
    });
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    res.write(OPENING);
  }

  /** A personal stream: subscribe, and it is live (what it shows is re-read on reconnect). */
  open(broker: DiscussionBroker): void {
    this.unsubscribe = broker.subscribe(this);
  }

  deliver(_message: LiveMessage): void {}

  notify(frame: string): void {
    this.send(frame);
    this.hooks.named?.();
  }

  keepAlive(): void {
    this.send(KEEP_ALIVE);
  }

  close(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    const farewell = FAREWELLS[reason];
    if (reason === 'slow-reader' || reason === 'error' || this.res.destroyed) {
      this.res.destroy();
    } else {
      if (farewell) this.res.write(farewell);
      this.res.end();
    }
    this.hooks.closed?.(this.owner, reason);
  }

  protected send(chunk: string | Buffer): void {
    if (this.closed) return;
    this.res.write(chunk);
    if (this.res.writableLength > MAX_BUFFERED_BYTES) this.close('slow-reader');
  }
}

/**
 * One reader's discussion stream. The invariant: it writes seq cursor+1, cursor+2, … each exactly
 * once, in order. Live events are buffered while it catches up from the table; a live event that
 * skips a number sends it back to the table first. The table is the log: nothing is replayed from
 * memory, so buffering can be bounded without losing anything.
 */
export class DiscussionStream extends EventStream {
  private lastSent = 0;
  private catchingUp = true;
  private pending: LiveMessage[] = [];
  /** The newest message written, and the newest read position handed out (takeReadPosition). */
  private lastWritten = 0;
  private readTaken = 0;
  /** The highest seq handed to deliver so far: every seq up to it is committed. */
  private highestDelivered = 0;
  /** Wakes a catch-up that waits for the socket to drain, when the stream closes. */
  private wake: (() => void) | undefined;

  constructor(
    owner: StreamOwner,
    res: Response,
    private readonly source: MessageSource,
    hooks: StreamHooks = {},
  ) {
    super(owner, res, hooks);
  }

  /**
   * Subscribe first, then backfill from the table, then go live. Access is checked again once
   * subscribed: a removal or sign-out that landed between the route's check and the subscription
   * would otherwise miss this stream.
   */
  override async open(broker: DiscussionBroker, cursor = 0): Promise<void> {
    this.unsubscribe = broker.subscribe(this);
    try {
      const newest = await this.source.newestSeq();
      if (newest === undefined) {
        this.close('access-ended');
        return;
      }
      if (newest - cursor > MAX_REPLAY || cursor > newest) {
        this.send(namedFrame('resync', '', { id: newest }));
        this.lastSent = newest;
      } else {
        this.lastSent = cursor;
      }
    } catch {
      this.close('error');
      return;
    }
    await this.catchUp();
  }

  override deliver(message: LiveMessage): void {
    if (this.closed) return;
    if (message.seq > this.highestDelivered) this.highestDelivered = message.seq;
    if (this.catchingUp) {
      // Dropping the oldest buffered events is safe: the table has them.
      if (this.pending.push(message) > MAX_PENDING) this.pending.shift();
      return;
    }
    if (message.seq <= this.lastSent) return;
    if (message.seq === this.lastSent + 1) {
      this.write(message);
      return;
    }
    this.pending.push(message);
    void this.catchUp();
  }

  override close(reason: CloseReason): void {
    if (this.closed) return;
    this.pending = [];
    super.close(reason);
    this.wake?.();
    const seq = this.takeReadPosition();
    if (seq !== undefined) this.hooks.lastRead?.(this.owner, seq);
  }

  /** What this reader has been shown since last asked: the broker collects it once a second. */
  takeReadPosition(): number | undefined {
    if (this.lastWritten <= this.readTaken) return undefined;
    this.readTaken = this.lastWritten;
    return this.readTaken;
  }

  private async catchUp(): Promise<void> {
    this.catchingUp = true;
    try {
      for (;;) {
        // Everything delivered so far was committed before this read starts, so the read sees it.
        const deliveredBefore = this.highestDelivered;
        const batch = await this.source.messagesAfter(this.lastSent, BACKFILL_BATCH);
        if (this.closed) return;
        for (const message of batch) if (!(await this.writeCatchingUp(message))) return;
        if (batch.length === BACKFILL_BATCH) continue;
        if (await this.drainPending(batch.length === 0 ? deliveredBefore : 0)) break;
      }
    } catch {
      this.close('error');
    } finally {
      this.catchingUp = false;
    }
  }

  /**
   * Writes the buffered live events that continue the sequence; answers true when none is left.
   * One that skips a number sends the stream back to the table (false) — unless the table, read
   * after that event had been delivered (`deliveredBefore`), had nothing more: then the missing
   * numbers are gone for good (a deleted tablo) and waiting would loop forever. An event that
   * arrived during the read proves nothing: the numbers before it may have committed after the
   * read began, and they are read again.
   */
  private async drainPending(deliveredBefore: number): Promise<boolean> {
    const pending = this.pending.sort((a, b) => a.seq - b.seq);
    this.pending = [];
    for (const [i, message] of pending.entries()) {
      if (message.seq <= this.lastSent) continue;
      if (message.seq !== this.lastSent + 1 && message.seq > deliveredBefore) {
        this.pending.push(...pending.slice(i));
        return false;
      }
      if (!(await this.writeCatchingUp(message))) return true;
    }
    // Events that arrived while this waited for the socket: read on.
    return this.pending.length === 0;
  }

  /**
   * A write while catching up: the stream sends a backlog of its own making, so it waits for the
   * socket to drain rather than taking the reader for a slow one. Answers false once closed.
   */
  private async writeCatchingUp(message: LiveMessage): Promise<boolean> {
    if (this.closed) return false;
    if (message.seq <= this.lastSent) return true;
    this.lastSent = this.lastWritten = message.seq;
    this.res.write(message.frame);
    this.hooks.written?.(this.owner, message);
    if (this.res.writableLength > BACKFILL_HIGH_WATER) await this.drained();
    return !this.closed;
  }

  /**
   * Waits for the socket to take what it has. A reader that takes nothing for DRAIN_TIMEOUT_MS
   * has stopped reading: it is closed like any slow reader, or a catch-up would wait forever.
   */
  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.res.off('drain', done);
        this.res.off('close', done);
        this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(() => {
        done();
        this.close('slow-reader');
      }, DRAIN_TIMEOUT_MS);
      this.wake = done;
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }

  private write(message: LiveMessage): void {
    if (this.closed) return;
    this.lastSent = this.lastWritten = message.seq;
    this.send(message.frame);
    this.hooks.written?.(this.owner, message);
  }
}
