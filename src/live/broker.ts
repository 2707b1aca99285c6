import type { CloseReason } from './events.ts';
import type { LiveEvent } from './sse.ts';

/**
 * Whose stream this is; `tabloId` is set for a discussion stream, unset for a person's own stream.
 * A browser's stream holds a session: `sessionId` never leaves this process (logs, metrics and bus
 * payloads name a session by its `sessionKey`, a hash). A program's stream (the API's) holds an
 * API token instead, named by its `tokenKey`. `hidden`: a discussion stream of a tab its reader
 * cannot see (the page says so when it connects, and reconnects when that changes): it carries
 * everything, but its reader is not present and reads nothing.
 */
export type StreamOwner = SessionStreamOwner | TokenStreamOwner;
export type SessionStreamOwner = {
  userId: number;
  tabloId?: number;
  sessionId: string;
  sessionKey: string;
  tokenKey?: undefined;
  hidden?: boolean;
};
export type TokenStreamOwner = { userId: number; tabloId: number; tokenKey: string; sessionId?: undefined; sessionKey?: undefined; hidden?: undefined };

export interface Subscriber {
  readonly owner: StreamOwner;
  /** A program's stream (the API's): change events only, and nobody "here" on the discussion. */
  readonly forPrograms?: boolean;
  /**
   * A change event of the tablo's log. Called synchronously by publish: must not wait, must not
   * throw. Answers whether it wrote the event to its reader now (publish counts them once).
   */
  deliver(event: LiveEvent): boolean;
  /** A named event for this person (unread, members, presence…). Same rules as deliver. */
  notify(frame: string): void;
  /** The tablo's log has reached this seq (told after notices were missed): read up to it. */
  reached?(seq: number): void;
  keepAlive(): void;
  close(reason: CloseReason): void;
  /** A discussion stream's newest seq written since last asked, if any: what its reader has read. */
  takeReadPosition?(): number | undefined;
}

export type ReadPosition = { tabloId: number; userId: number; seq: number };

const KEEP_ALIVE_MS = 15_000;

/**
 * In-process fan-out. Discussion streams are grouped by tablo, and every stream (discussion or
 * personal) by person. Publishing hands each subscriber the event and returns: it never awaits a
 * socket; each subscriber bounds its own buffering. It knows every open stream, so it can close
 * those of a session, of a member of a tablo, of a tablo, or all of them.
 */
export class Broker {
  private readonly topics = new Map<number, Set<Subscriber>>();
  private readonly people = new Map<number, Set<Subscriber>>();
  /** tablo → person → how many of their tabs have its discussion open and visible. */
  private readonly tabs = new Map<number, Map<number, number>>();
  private total = 0;
  private discussions = 0;
  private shuttingDown = false;
  private readonly ticker: NodeJS.Timeout;
  /** Called when the set of people with a discussion open changes (a first tab opens, a last closes). */
  private readonly onPresenceChange: (tabloId: number) => void;

  constructor(options: { keepAliveMs?: number; onPresenceChange?: (tabloId: number) => void } = {}) {
    const keepAliveMs = options.keepAliveMs ?? KEEP_ALIVE_MS;
    this.onPresenceChange = options.onPresenceChange ?? (() => {});
    // One timer for all streams rather than one per stream.
    this.ticker = setInterval(() => this.each((s) => s.keepAlive()), keepAliveMs);
    this.ticker.unref();
  }

  subscribe(subscriber: Subscriber): () => void {
    if (this.shuttingDown) {
      // A stream that slipped in on a kept-alive connection after shutdown began.
      subscriber.close('shutdown');
      return () => {};
    }
    const { tabloId, userId } = subscriber.owner;
    addTo(this.people, userId, subscriber);
    this.total++;
    // A hidden tab and a program are not "here".
    const seen = tabloId !== undefined && !subscriber.owner.hidden && !subscriber.forPrograms;
    if (tabloId !== undefined) {
      addTo(this.topics, tabloId, subscriber);
      this.discussions++;
      if (seen && this.countTab(tabloId, userId, +1) === 1) this.onPresenceChange(tabloId);
    }
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      removeFrom(this.people, userId, subscriber);
      this.total--;
      if (tabloId !== undefined) {
        removeFrom(this.topics, tabloId, subscriber);
        this.discussions--;
        if (seen && this.countTab(tabloId, userId, -1) === 0) this.onPresenceChange(tabloId);
      }
    };
  }

  /** Hands the event to every discussion stream of the tablo; answers how many wrote it now. */
  publish(tabloId: number, event: LiveEvent): number {
    const topic = this.topics.get(tabloId);
    if (!topic) return 0;
    let written = 0;
    for (const subscriber of topic) if (subscriber.deliver(event)) written++;
    return written;
  }

  /** Every discussion stream of a tablo learns that its log has reached `seq`. */
  reached(tabloId: number, seq: number): void {
    for (const subscriber of this.topics.get(tabloId) ?? []) subscriber.reached?.(seq);
  }

  /** How many streams this person has open here. */
  streamsOf(userId: number): number {
    return this.people.get(userId)?.size ?? 0;
  }

  /** A named event to every discussion stream of a tablo. */
  notifyTablo(tabloId: number, frame: string): void {
    for (const subscriber of this.topics.get(tabloId) ?? []) subscriber.notify(frame);
  }

  /**
   * A named event to every stream of these people, except their streams of `exceptTabloId`'s
   * discussion (which already shows what the event is about).
   */
  notifyPeople(userIds: Iterable<number>, frame: string, exceptTabloId?: number): void {
    for (const userId of userIds) {
      for (const subscriber of this.people.get(userId) ?? []) {
        if (exceptTabloId === undefined || subscriber.owner.tabloId !== exceptTabloId) subscriber.notify(frame);
      }
    }
  }

  /** Whether anyone has a stream open other than on this tablo's discussion (worth telling about it). */
  hasListenersBesides(tabloId: number): boolean {
    return this.total > (this.topics.get(tabloId)?.size ?? 0);
  }

  /** The people (here, on this instance) with the tablo's discussion open in a visible tab. */
  presentIn(tabloId: number): number[] {
    return [...(this.tabs.get(tabloId)?.keys() ?? [])];
  }

  /** Every tablo with someone's discussion open here, and who. */
  presence(): Map<number, number[]> {
    return new Map([...this.tabs.keys()].map((tabloId) => [tabloId, this.presentIn(tabloId)]));
  }

  /** Whose every open stream is. */
  owners(): StreamOwner[] {
    return [...this.people.values()].flatMap((streams) => [...streams].map((s) => s.owner));
  }

  /** What open discussions have shown their readers since last asked. */
  readPositions(): ReadPosition[] {
    const positions: ReadPosition[] = [];
    for (const [tabloId, topic] of this.topics) {
      for (const subscriber of topic) {
        const seq = subscriber.takeReadPosition?.();
        if (seq !== undefined) positions.push({ tabloId, userId: subscriber.owner.userId, seq });
      }
    }
    return positions;
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

  /** Ends every stream with a request to come back soon, and every stream that opens from now on. */
  shutdown(): void {
    this.shuttingDown = true;
    this.closeAll('shutdown');
  }

  get openStreams(): number {
    return this.total;
  }

  get discussionStreams(): number {
    return this.discussions;
  }

  stop(): void {
    clearInterval(this.ticker);
  }

  /** Adds `change` to a person's open tabs on a tablo; answers the new count. */
  private countTab(tabloId: number, userId: number, change: 1 | -1): number {
    let people = this.tabs.get(tabloId);
    if (!people) this.tabs.set(tabloId, (people = new Map()));
    const count = (people.get(userId) ?? 0) + change;
    if (count > 0) people.set(userId, count);
    else people.delete(userId);
    if (people.size === 0) this.tabs.delete(tabloId);
    return count;
  }

  private each(visit: (subscriber: Subscriber) => void): void {
    for (const streams of [...this.people.values()]) for (const subscriber of [...streams]) visit(subscriber);
  }
}

function addTo<K>(map: Map<K, Set<Subscriber>>, key: K, subscriber: Subscriber): void {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  set.add(subscriber);
}

function removeFrom<K>(map: Map<K, Set<Subscriber>>, key: K, subscriber: Subscriber): void {
  const set = map.get(key);
  if (!set) return;
  set.delete(subscriber);
  if (set.size === 0) map.delete(key);
}
