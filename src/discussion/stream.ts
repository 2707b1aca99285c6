import type { Response } from 'express';
import type { CloseReason, DiscussionBroker, StreamOwner, Subscriber } from './broker.ts';
import { KEEP_ALIVE, type LiveMessage, namedFrame, OPENING } from './sse.ts';

/** More than this many messages to replay: the client reloads instead (`event: resync`). */
export const MAX_REPLAY = 500;
/** A reader whose socket holds more than this unsent is too slow: it is closed and resumes later. */
export const MAX_BUFFERED_BYTES = 512 * 1024;
const MAX_PENDING = 1_000;

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
    this.pending = [];
    super.close(reason);
  }

  private async catchUp(): Promise<void> {
    this.catchingUp = true;
    try {
      for (;;) {
        const batch = await this.source.messagesAfter(this.lastSent, MAX_REPLAY);
        if (this.closed) return;
        for (const message of batch) this.write(message);
        if (batch.length === MAX_REPLAY) continue;
        if (this.drainPending(batch.length === 0)) break;
      }
    } catch {
      this.close('error');
    } finally {
      this.catchingUp = false;
    }
  }

  /**
   * Writes the buffered live events that continue the sequence. Answers false when one skips a
   * number, so the table is read again — unless the table just had nothing more, in which case
   * the missing numbers are gone for good (a deleted tablo) and waiting would loop forever.
   */
  private drainPending(tableWasEmpty: boolean): boolean {
    const pending = this.pending.sort((a, b) => a.seq - b.seq);
    this.pending = [];
    for (const message of pending) {
      if (message.seq <= this.lastSent) continue;
      if (message.seq !== this.lastSent + 1 && !tableWasEmpty) {
        this.pending = pending.filter((m) => m.seq > this.lastSent);
        return false;
      }
      this.write(message);
    }
    return true;
  }

  private write(message: LiveMessage): void {
    if (this.closed) return;
    this.lastSent = message.seq;
    this.send(message.frame);
    this.hooks.written?.(this.owner, message);
  }
}
