import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Broker, StreamOwner, Subscriber } from './broker.ts';
import type { CloseReason } from './events.ts';
import { KEEP_ALIVE, type LiveEvent, namedFrame, OPENING, type StreamFormat } from './sse.ts';

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

/**
 * Where a discussion stream reads the log: the seam between the stream's ordering rules and the
 * table (tests give it an array).
 */
export type MessageSource = {
  /** The tablo's newest seq, or why this owner may no longer see it. Throws when the database does not answer. */
  newestSeq: (owner: StreamOwner) => Promise<number | 'signed-out' | 'access-ended'>;
  /** Committed change events of the tablo with seq > afterSeq, oldest first, framed. */
  eventsAfter: (afterSeq: number, limit: number, tabloId: number) => Promise<LiveEvent[]>;
};

/** What a stream writes to: an HTTP response, or anything else with a socket's manners. */
export interface StreamSink {
  /** Sends the headers and the opening lines. */
  start(): void;
  write(chunk: string | Buffer): boolean;
  end(): void;
  destroy(): void;
  readonly writableLength: number;
  readonly destroyed: boolean;
  on(event: 'drain' | 'close', listener: () => void): unknown;
  off(event: 'drain' | 'close', listener: () => void): unknown;
}

export type StreamHooks = {
  /** A change event written while catching up (live writes are counted by publish, see Broker.publish). */
  written?: (owner: StreamOwner, event: LiveEvent) => void;
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
  /** Why it closed, once it has. */
  closedAs: CloseReason | undefined;
  /** Whether the headers have gone out: before that, nothing may be written. */
  private started = false;
  /** Named events that arrived before the headers went out. */
  private early: string[] = [];
  protected unsubscribe: () => void = () => {};

  constructor(
    readonly owner: StreamOwner,
    protected readonly res: StreamSink,
    protected readonly hooks: StreamHooks = {},
  ) {}

  /** A personal stream: headers, then subscribe, and it is live (pages re-read what they show on reconnect). */
  open(broker: Broker): void {
    this.begin();
    this.unsubscribe = broker.subscribe(this);
  }

  deliver(_event: LiveEvent): boolean {
    return false;
  }

  notify(frame: string): void {
    if (!this.started) {
      if (!this.closed) this.early.push(frame);
      return;
    }
    this.send(frame);
    this.hooks.named?.();
  }

  keepAlive(): void {
    if (this.started) this.send(KEEP_ALIVE);
  }

  /**
   * Ends the stream. Before its headers went out nothing is written: whoever opened it answers
   * with a status that says why (see closedAs).
   */
  close(reason: CloseReason): void {
    if (this.closed) return;
    this.closed = true;
    this.closedAs = reason;
    this.early = [];
    this.unsubscribe();
    if (this.started) {
      const farewell = FAREWELLS[reason];
      if (reason === 'slow-reader' || reason === 'error' || this.res.destroyed) {
        this.res.destroy();
      } else {
        if (farewell) this.res.write(farewell);
        this.res.end();
      }
    }
    this.hooks.closed?.(this.owner, reason);
  }

  /** Headers and the opening lines (the sink's start), then whatever named events waited. */
  protected begin(): void {
    this.res.start();
    this.started = true;
    const early = this.early;
    this.early = [];
    for (const frame of early) this.notify(frame);
  }

  protected send(chunk: string | Buffer): void {
    if (this.closed) return;
    this.res.write(chunk);
    if (this.res.writableLength > MAX_BUFFERED_BYTES) this.close('slow-reader');
  }
}

/**
 * An HTTP response as a stream's sink: `start` sends the SSE headers and opening lines; from then
 * on frames go straight to the socket. Through `res.write`, each write to each reader would cork
 * the socket, schedule its uncork and frame an HTTP chunk (four buffers, one writev): with a
 * thousand readers that was most of the cost of a message. Here a frame's chunk is built once
 * (chunkOf) and each reader costs one socket write. The response still ends through `res.end`
 * (the last chunk, keep-alive), which is why the socket is used only when the response owns it.
 */
export function responseSink(res: ServerResponse): StreamSink {
  return new ResponseSink(res);
}

class ResponseSink implements StreamSink {
  /** Set once started, when writing chunks to the socket directly is what res.write would do. */
  private socket: Socket | undefined;

  constructor(private readonly res: ServerResponse) {}

  start(): void {
    const res = this.res;
    // An event stream is never a document: the page headers set by earlier middleware (CSP,
    // frame options…) mean nothing on it, and a response keeps its header block for its life.
    for (const name of res.getHeaderNames()) if (!STREAM_HEADERS.has(name)) res.removeHeader(name);
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      // no-transform keeps any compression layer from buffering the stream
      'Cache-Control': 'no-cache, no-transform',
      'X-Accel-Buffering': 'no',
      'X-Content-Type-Options': 'nosniff',
    });
    res.flushHeaders();
    res.socket?.setNoDelay(true);
    res.write(OPENING);
    // The rest keep writing through res: a response queued behind another on its connection (no
    // socket yet), one whose bytes are still in its own buffer (they would be overtaken), and one
    // not chunked (a HEAD request's, which must carry no body; an HTTP/1.0 client's).
    const socket = res.socket;
    if (socket && res.chunkedEncoding && res.writableLength === socket.writableLength) this.socket = socket;
  }

  write(chunk: string | Buffer): boolean {
    const socket = this.socket;
    if (!socket) return this.res.write(chunk);
    if (corkedNow && !corkedNow.has(socket)) {
      socket.cork();
      corkedNow.add(socket);
    }
    return typeof chunk === 'string' ? socket.write(`${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`) : socket.write(chunkOf(chunk));
  }

  end(): void {
    this.res.end();
  }

  destroy(): void {
    this.res.destroy();
  }

  get writableLength(): number {
    return this.socket ? this.socket.writableLength : this.res.writableLength;
  }

  get destroyed(): boolean {
    return this.res.destroyed;
  }

  // The response emits 'drain' only after its own write said to wait: with direct writes, the socket's.
  on(event: 'drain' | 'close', listener: () => void): void {
    (event === 'drain' && this.socket ? this.socket : this.res).on(event, listener);
  }

  off(event: 'drain' | 'close', listener: () => void): void {
    (event === 'drain' && this.socket ? this.socket : this.res).off(event, listener);
  }
}

/** The sockets written to during writeTogether, corked until it ends. */
let corkedNow: Set<Socket> | undefined;

/**
 * Runs `write` with every stream socket it writes to corked, and uncorks them when it returns:
 * the events of one burst (a group commit's posts, a turn of the Postgres bus) reach each reader
 * in one system call instead of one each. Only for bursts: corking a single write costs more than
 * it saves.
 */
export function writeTogether(write: () => void): void {
  if (corkedNow) return write();
  const corked = (corkedNow = new Set());
  try {
    write();
  } finally {
    corkedNow = undefined;
    for (const socket of corked) socket.uncork();
  }
}

/** What an event stream's response says: about itself, and `Connection: close` while shutting down. */
const STREAM_HEADERS = new Set(['content-type', 'cache-control', 'x-accel-buffering', 'x-content-type-options', 'connection']);

const CRLF = Buffer.from('\r\n');
const chunks = new WeakMap<Buffer, Buffer>();

/** A frame as one HTTP/1.1 chunk, built once per frame: the same bytes go to every reader. */
function chunkOf(frame: Buffer): Buffer {
  let chunk = chunks.get(frame);
  if (!chunk) chunks.set(frame, (chunk = Buffer.concat([Buffer.from(`${frame.length.toString(16)}\r\n`), frame, CRLF])));
  return chunk;
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
  private pending: LiveEvent[] = [];
  /** The newest message written, and the newest read position handed out (takeReadPosition). */
  private lastWritten = 0;
  private readTaken = 0;
  /** The highest seq handed to deliver so far: every seq up to it is committed. */
  private highestDelivered = 0;
  /** Wakes a catch-up that waits for the socket to drain, when the stream closes. */
  private wake: (() => void) | undefined;
  private readonly tabloId: number;

  /**
   * `source` and `hooks` can be shared by every stream (they are told whose stream asks): an open
   * stream should hold no closures of its own, thousands are open at once.
   */
  constructor(
    owner: StreamOwner,
    res: StreamSink,
    private readonly source: MessageSource,
    hooks: StreamHooks = {},
    /** `json`: a program's stream (the API's), which carries change events only, as JSON. */
    private readonly format: StreamFormat = 'html',
  ) {
    super(owner, res, hooks);
    if (owner.tabloId === undefined) throw new Error('a discussion stream belongs to a tablo');
    this.tabloId = owner.tabloId;
  }

  get forPrograms(): boolean {
    return this.format === 'json';
  }

  /** Named events (presence, unread…) are for pages: a program's stream gets change events only. */
  override notify(frame: string): void {
    if (!this.forPrograms) super.notify(frame);
  }

  /**
   * Subscribe first, then read the newest seq, then send the headers, backfill from the table and
   * go live. The access check in the newest-seq read runs once subscribed: a removal or sign-out
   * that landed between the route's check and the subscription would otherwise miss this stream.
   * Before the headers go out, a database that does not answer, a session that ended or access
   * that ended closes the stream unstarted (closedAs says why) and the caller answers a status.
   */
  override async open(broker: Broker, cursor = 0): Promise<void> {
    this.unsubscribe = broker.subscribe(this);
    let newest: number | 'signed-out' | 'access-ended';
    try {
      newest = await this.source.newestSeq(this.owner);
    } catch {
      this.close('error');
      return;
    }
    if (this.closed) return;
    if (typeof newest !== 'number') {
      this.close(newest);
      return;
    }
    this.begin();
    if (newest - cursor > MAX_REPLAY || cursor > newest) {
      this.send(namedFrame('resync', '', { id: newest }));
      this.lastSent = newest;
    } else {
      this.lastSent = cursor;
    }
    // A visible tab shows what its cursor says it has: a tab that comes back from hiding (and
    // reconnects) has now read what arrived while it was hidden.
    if (!this.owner.hidden) this.lastWritten = this.lastSent;
    await this.catchUp();
  }

  override deliver(message: LiveEvent): boolean {
    if (this.closed) return false;
    if (message.seq > this.highestDelivered) this.highestDelivered = message.seq;
    if (this.catchingUp) {
      // Dropping the oldest buffered events is safe: the table has them.
      if (this.pending.push(message) > MAX_PENDING) this.pending.shift();
      return false;
    }
    if (message.seq <= this.lastSent) return false;
    if (message.seq === this.lastSent + 1) {
      const frame = this.frameOf(message);
      if (!frame) return false;
      this.lastSent = this.lastWritten = message.seq;
      this.send(frame);
      return true;
    }
    this.pending.push(message);
    void this.catchUp();
    return false;
  }

  reached(seq: number): void {
    if (this.closed || seq <= this.highestDelivered) return;
    this.highestDelivered = seq;
    if (!this.catchingUp && seq > this.lastSent) void this.catchUp();
  }

  override close(reason: CloseReason): void {
    if (this.closed) return;
    this.pending = [];
    super.close(reason);
    this.wake?.();
    const seq = this.takeReadPosition();
    if (seq !== undefined) this.hooks.lastRead?.(this.owner, seq);
  }

  /**
   * What this reader has been shown since last asked: the broker collects it once a second. A
   * hidden tab's reader has been shown nothing.
   */
  takeReadPosition(): number | undefined {
    // What a program was sent, or a hidden tab shown, is not what a person has read.
    if (this.forPrograms || this.owner.hidden || this.lastWritten <= this.readTaken) return undefined;
    this.readTaken = this.lastWritten;
    return this.readTaken;
  }

  private async catchUp(): Promise<void> {
    this.catchingUp = true;
    try {
      for (;;) {
        // Everything delivered so far was committed before this read starts, so the read sees it.
        const deliveredBefore = this.highestDelivered;
        const batch = await this.source.eventsAfter(this.lastSent, BACKFILL_BATCH, this.tabloId);
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
  private async writeCatchingUp(message: LiveEvent): Promise<boolean> {
    if (this.closed) return false;
    if (message.seq <= this.lastSent) return true;
    const frame = this.frameOf(message);
    if (!frame) return false;
    this.lastSent = this.lastWritten = message.seq;
    this.res.write(frame);
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

  /** The event in this stream's format; a change without that rendering cannot be sent in order, so the stream ends. */
  private frameOf(message: LiveEvent): Buffer | undefined {
    const frame = message.frame(this.format);
    if (!frame) this.close('error');
    return frame;
  }
}
