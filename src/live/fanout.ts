import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import type { Broker, ReadPosition, StreamOwner } from './broker.ts';
import type { CloseReason, TabloChange } from './events.ts';
import type { RealtimeMetrics } from './metrics.ts';
import { changeEvent, type JsonChange, namedFrame } from './sse.ts';

/**
 * Which open streams to close: a session's (named by its key, a hash), an API token's (by its
 * key), a member's (in one tablo or all), or a tablo's.
 */
export type StreamScope = { sessionKey: string } | { tokenKey: string } | { userId: number; tabloId?: number } | { tabloId: number };

/** A change event of a tablo's log, rendered once in each format: the HTML fragment and the API's JSON. */
export type ChangeEvent = { tabloId: number; seq: number; html: string; json: JsonChange };

/**
 * What the engine asks of the features, given once when it is built: it knows nothing of tablos'
 * rules, sessions or messages beyond these answers.
 */
export interface LiveRules {
  /** Who may hear about a tablo: its members. */
  membersOf(tabloId: number): Promise<number[]>;
  /** The presence list of a discussion, as HTML, for these people (the same for every viewer). */
  renderPresence(userIds: number[]): Promise<string>;
  /**
   * Change events heard from another instance: each the event at `seq` of a tablo's log, which
   * changed message `messageId`, framed with that message in its current state; in the order
   * asked, undefined for one that is not (or no longer) there.
   */
  loadChanges(events: { tabloId: number; seq: number; messageId: number }[]): Promise<(ChangeEvent | undefined)[]>;
  /** The newest seq of each of these tablos' logs. */
  newestSeqs(tabloIds: number[]): Promise<Map<number, number>>;
  /** Of these stream owners, those that may no longer stream, and why (a revoked token is `signed-out`). */
  revoked(owners: StreamOwner[]): Promise<Map<StreamOwner, 'signed-out' | 'access-ended'>>;
}

/** Who has a tablo's discussion open: on this instance, or on every instance. */
export type WhoIsHere = (tabloId: number) => Promise<number[]>;

const PRESENCE_COALESCE_MS = 150;
const MEMBERS_REMEMBERED_MS = 5_000;

/**
 * Everything that reaches the streams open on this instance. A bus calls it: the in-process bus
 * directly, the Postgres bus when a notification arrives. Change events go to the tablo's
 * discussion streams; people's other streams (lists, other discussions) get small named events —
 * only people who are members of the tablo at that moment.
 */
export class LocalFanout {
  private readonly presenceDue = new Set<number>();
  /**
   * Tablos' members, remembered: every post tells its tablo's members, and every change of a
   * tablo's members announces itself here (tabloChanged) on every instance, which forgets them.
   * The time bound covers an announcement missed while the bus was reconnecting.
   */
  private readonly members = new LRUCache<number, Promise<number[]>>({ max: 10_000, ttl: MEMBERS_REMEMBERED_MS });
  private presenceTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly broker: Broker,
    private readonly rules: LiveRules,
    readonly whoIsHere: WhoIsHere,
    private readonly logger: Logger,
    private readonly metrics: RealtimeMetrics,
    private readonly accessEnded: (scope: StreamScope) => void = () => {},
  ) {}

  change(event: ChangeEvent): void {
    const started = performance.now();
    const written = this.broker.publish(event.tabloId, changeEvent(event.seq, { html: () => event.html, json: () => event.json }));
    // Publishing writes to every live stream before it returns: this is publish-to-write for all.
    this.metrics.publishToWrite.observe((performance.now() - started) / 1000);
    // Counted once per publish, not once per reader: the loop over readers stays lean.
    if (written) this.metrics.messagesWritten.inc(written);
    const activity = namedFrame('activity', JSON.stringify({ tablo: event.tabloId, seq: event.seq }));
    this.tellMembers(event.tabloId, activity, [], event.tabloId);
  }

  tabloChanged(tabloId: number, change: TabloChange, alsoTell: number[] = []): void {
    this.members.delete(tabloId);
    this.tellMembers(tabloId, namedFrame(change === 'members' ? 'members' : 'tablo', JSON.stringify({ tablo: tabloId, change })), alsoTell);
  }

  /** A tablo's invitations changed: told to the people they name (the invited, the owner), not its members. */
  invitationsChanged(tabloId: number, people: number[]): void {
    this.broker.notifyPeople(new Set(people), namedFrame('invitations', JSON.stringify({ tablo: tabloId, change: 'invitations' })));
  }

  /** A person read further: their other pages (lists, titles) count less now. */
  readAdvanced(positions: Pick<ReadPosition, 'tabloId' | 'userId'>[]): void {
    for (const { tabloId, userId } of positions) {
      this.broker.notifyPeople([userId], namedFrame('read', JSON.stringify({ tablo: tabloId })), tabloId);
    }
  }

  closeStreams(scope: StreamScope, reason: CloseReason): void {
    this.broker.closeStreams((owner) => matchesScope(scope, owner), reason);
    this.accessEnded(scope);
  }

  /**
   * Reads again whether each open stream may still stream (its session exists, its person is
   * still a member) and closes those that may not. Only the streams open when it starts are
   * judged: one that opens meanwhile checks its own access.
   */
  async closeRevokedStreams(): Promise<void> {
    const owners = this.broker.owners();
    if (owners.length === 0) return;
    const revoked = await this.rules.revoked(owners);
    for (const reason of ['signed-out', 'access-ended'] as const) {
      this.broker.closeStreams((owner) => revoked.get(owner) === reason, reason);
    }
  }

  /** Many arrivals at once (a page of tabs reconnecting) make one update, not one each. */
  presenceChanged(tabloId: number): void {
    this.presenceDue.add(tabloId);
    this.presenceTimer ??= setTimeout(() => {
      this.presenceTimer = undefined;
      const due = [...this.presenceDue];
      this.presenceDue.clear();
      for (const id of due) void this.sendPresence(id);
    }, PRESENCE_COALESCE_MS);
  }

  async renderPresence(tabloId: number, alsoHere?: number): Promise<string> {
    const ids = new Set(await this.whoIsHere(tabloId));
    if (alsoHere !== undefined) ids.add(alsoHere);
    return this.rules.renderPresence([...ids]);
  }

  stop(): void {
    clearTimeout(this.presenceTimer);
  }

  private async sendPresence(tabloId: number): Promise<void> {
    try {
      this.broker.notifyTablo(tabloId, namedFrame('presence', await this.renderPresence(tabloId)));
      this.tellMembers(tabloId, namedFrame('online', JSON.stringify({ tablo: tabloId })), [], tabloId);
    } catch (error) {
      this.logger.warn({ err: error, tabloId }, 'presence update failed');
    }
  }

  private membersOf(tabloId: number): Promise<number[]> {
    let members = this.members.get(tabloId);
    if (!members) {
      members = this.rules.membersOf(tabloId);
      this.members.set(tabloId, members);
      members.catch(() => this.members.delete(tabloId));
    }
    return members;
  }

  /** Only members learn about a tablo; the query runs only when someone could be told. */
  private tellMembers(tabloId: number, frame: string, alsoTell: number[], exceptTabloId?: number): void {
    if (!this.broker.hasListenersBesides(exceptTabloId ?? -1) && alsoTell.length === 0) return;
    this.membersOf(tabloId).then(
      (members) => this.broker.notifyPeople(new Set([...members, ...alsoTell]), frame, exceptTabloId),
      (error) => this.logger.warn({ err: error, tabloId }, 'telling members failed'),
    );
  }
}

export function matchesScope(scope: StreamScope, owner: StreamOwner): boolean {
  if ('sessionKey' in scope) return owner.sessionKey === scope.sessionKey;
  if ('tokenKey' in scope) return owner.tokenKey === scope.tokenKey;
  if ('userId' in scope) return owner.userId === scope.userId && (scope.tabloId === undefined || owner.tabloId === scope.tabloId);
  return owner.tabloId === scope.tabloId;
}
