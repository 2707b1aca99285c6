import type { LiveMessage } from './sse.ts';

export type StreamOwner = { userId: number; sessionId: string; tabloId: number };
export type CloseReason = 'client' | 'signed-out' | 'access-ended' | 'shutdown' | 'slow-reader' | 'error';

export interface Subscriber {
  readonly owner: StreamOwner;
  /** Called synchronously by publish: must not wait for the socket, must not throw. */
  deliver(message: LiveMessage): void;
  keepAlive(): void;
  close(reason: CloseReason): void;
}

const KEEP_ALIVE_MS = 15_000;

/**
 * In-process fan-out, one topic per tablo. Publishing hands each subscriber the event and returns:
 * it never awaits a socket; each subscriber bounds its own buffering. It also knows every open
 * stream, so it can close those of a session, of a member of a tablo, or all of them.
 */
export class DiscussionBroker {
  private readonly topics = new Map<number, Set<Subscriber>>();
  private readonly ticker: NodeJS.Timeout;

  constructor(keepAliveMs = KEEP_ALIVE_MS) {
    // One timer for all streams rather than one per stream.
    this.ticker = setInterval(() => this.each((s) => s.keepAlive()), keepAliveMs);
    this.ticker.unref();
  }

  subscribe(subscriber: Subscriber): () => void {
    const { tabloId } = subscriber.owner;
    let topic = this.topics.get(tabloId);
    if (!topic) this.topics.set(tabloId, (topic = new Set()));
    topic.add(subscriber);
    return () => {
      topic.delete(subscriber);
      if (topic.size === 0 && this.topics.get(tabloId) === topic) this.topics.delete(tabloId);
    };
  }

  publish(tabloId: number, message: LiveMessage): void {
    const topic = this.topics.get(tabloId);
    if (!topic) return;
    for (const subscriber of topic) subscriber.deliver(message);
  }

  /** Closes every open stream whose owner matches; answers how many. */
  closeStreams(matches: (owner: StreamOwner) => boolean, reason: CloseReason): number {
    let closed = 0;
    this.each((subscriber) => {
      if (!matches(subscriber.owner)) return;
      subscriber.close(reason);
      closed++;
    });
    return closed;
  }

  closeAll(reason: CloseReason): void {
    this.closeStreams(() => true, reason);
  }

  get openStreams(): number {
    let count = 0;
    for (const topic of this.topics.values()) count += topic.size;
    return count;
  }

  stop(): void {
    clearInterval(this.ticker);
  }

  private each(visit: (subscriber: Subscriber) => void): void {
    for (const topic of [...this.topics.values()]) for (const subscriber of [...topic]) visit(subscriber);
  }
}
