import type { Client } from './client.ts';

/** One dispatched event, as EventSource would see it, plus the names of the fields that made it. */
export type SseEvent = {
  /** `message` unless the event had an `event:` field. */
  type: string;
  data: string;
  /** The stream's last event id when this event was dispatched (EventSource's `lastEventId`). */
  lastEventId: string;
  /** The `id:` field of this very event, if it had one. */
  id: string | undefined;
  /** Field names in the order they came (`id`, `event`, `data`, `retry`, …). */
  fields: string[];
};

export type StreamEnd = 'ended' | 'aborted' | 'failed';

/**
 * A Server-Sent Events reader over the Client's cookies, parsing frames as the SSE spec says: lines
 * end in CRLF, LF or CR; `data` lines join with \n; a block with no data dispatches nothing; `id`
 * sets the last event id; comments and `retry` are kept for inspection.
 */
export class SseStream {
  readonly events: SseEvent[] = [];
  readonly comments: string[] = [];
  readonly retries: number[] = [];
  /** The first bytes received, decoded (up to 4 KiB). */
  opening = '';
  lastEventId = '';
  /** Resolves once the stream is over: the server ended it, we closed it, or the connection failed. */
  readonly ended: Promise<StreamEnd>;
  endedAs: StreamEnd | undefined;

  private readonly controller: AbortController;
  private readonly watchers = new Set<() => void>();
  private buffer = '';
  private data = '';
  private eventType = '';
  private eventId: string | undefined;
  private fields: string[] = [];
  private hasData = false;

  constructor(
    readonly response: Response,
    controller: AbortController,
  ) {
    this.controller = controller;
    this.ended = this.read().then((how) => {
      this.endedAs = how;
      this.notify();
      return how;
    });
  }

  get status(): number {
    return this.response.status;
  }

  /** The message events (default type), in arrival order; named events (presence…) are left out. */
  get messages(): SseEvent[] {
    return this.events.filter((e) => e.type === 'message');
  }

  /** The message events' ids as numbers, in arrival order. */
  get messageIds(): number[] {
    return this.messages.map((e) => Number(e.id));
  }

  close(): void {
    this.controller.abort();
  }

  /**
   * Resolves once `test` holds (checked now and after every frame); rejects after `timeoutMs`, or
   * as soon as the stream is over without it holding.
   */
  waitFor(test: (stream: this) => boolean, timeoutMs = 10_000, what = 'the expected events'): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = () => {
        let ok: boolean;
        try {
          ok = test(this);
        } catch (error) {
          finish(error);
          return;
        }
        if (ok) finish();
        else if (this.endedAs) finish(new Error(`the stream ended (${this.endedAs}) before ${what}; ${this.describe()}`));
      };
      const timer = setTimeout(() => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${this.describe()}`)), timeoutMs);
      const finish = (error?: unknown) => {
        clearTimeout(timer);
        this.watchers.delete(check);
        if (error) reject(error);
        else resolve();
      };
      this.watchers.add(check);
      check();
    });
  }

  /** Waits until a message event with this id (or a later one) has arrived. */
  waitForId(seq: number, timeoutMs = 10_000): Promise<void> {
    return this.waitFor((s) => s.messageIds.some((id) => id >= seq), timeoutMs, `message id ${seq}`);
  }

  describe(): string {
    const ids = this.events.map((e) => (e.type === 'message' ? e.id : `${e.type}:${e.id ?? ''}`));
    const shown = ids.length > 30 ? [...ids.slice(0, 10), '…', ...ids.slice(-15)] : ids;
    return `${this.events.length} events [${shown.join(',')}], ${this.comments.length} comments, status ${this.status}`;
  }

  private async read(): Promise<StreamEnd> {
    const body = this.response.body;
    if (!body) return 'ended';
    const reader = body.getReader();
    const decoder = new TextDecoder('utf-8');
    let first = true;
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        let text = decoder.decode(value, { stream: true });
        if (first && text.length) {
          if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
          first = false;
        }
        if (this.opening.length < 4096) this.opening += text.slice(0, 4096 - this.opening.length);
        this.feed(text);
      }
      this.feed(decoder.decode(), true);
      return 'ended';
    } catch {
      return this.controller.signal.aborted ? 'aborted' : 'failed';
    }
  }

  private feed(text: string, atEnd = false): void {
    this.buffer += text;
    let start = 0;
    for (;;) {
      const cr = this.buffer.indexOf('\r', start);
      const lf = this.buffer.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      let end: number;
      let next: number;
      if (lf !== -1 && (cr === -1 || lf < cr)) {
        end = lf;
        next = lf + 1;
      } else {
        // A CR at the very end may be the first half of a CRLF that is still on its way.
        if (cr === this.buffer.length - 1 && !atEnd) break;
        end = cr;
        next = this.buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
      }
      this.line(this.buffer.slice(start, end));
      start = next;
    }
    this.buffer = this.buffer.slice(start);
    // A last line without its terminator is dropped, and so is an unfinished event (per the spec).
    this.notify();
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) {
      this.comments.push(line.slice(1).replace(/^ /, ''));
      return;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    this.fields.push(field);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.data += `${value}\n`;
        this.hasData = true;
        break;
      case 'id':
        if (!value.includes('\u0000')) {
          this.eventId = value;
          this.lastEventId = value;
        }
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retries.push(Number(value));
        break;
      default:
        break; // ignored, as the spec says
    }
  }

  private dispatch(): void {
    if (this.hasData) {
      this.events.push({
        type: this.eventType || 'message',
        data: this.data.slice(0, -1),
        lastEventId: this.lastEventId,
        id: this.eventId,
        fields: this.fields,
      });
    }
    this.data = '';
    this.eventType = '';
    this.eventId = undefined;
    this.fields = [];
    this.hasData = false;
  }

  private notify(): void {
    for (const watcher of [...this.watchers]) watcher();
  }
}

export type OpenOptions = { after?: number | string; lastEventId?: number | string; url?: string };

/**
 * Opens a tablo's discussion stream as the client (its cookies), resolving once the response
 * headers are in. A non-200 answer is returned too: look at `status` (its body is read as events,
 * which for a plain text answer yields none).
 */
export async function openStream(client: Client, tabloId: number, options: OpenOptions = {}): Promise<SseStream> {
  const url = options.url ?? `/tablos/${tabloId}/discussion/stream${options.after === undefined ? '' : `?after=${options.after}`}`;
  const headers: Record<string, string> = { Accept: 'text/event-stream' };
  if (options.lastEventId !== undefined) headers['Last-Event-ID'] = String(options.lastEventId);
  const controller = new AbortController();
  const response = await client.request(url, { headers, signal: controller.signal });
  return new SseStream(response, controller);
}
