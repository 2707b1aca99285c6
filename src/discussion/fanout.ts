import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';
import { memberIds } from '../tablos/tablos.ts';
import { renderPartial } from '../web/views.ts';
import type { CloseReason, DiscussionBroker, ReadPosition } from './broker.ts';
import type { Message } from './messages.ts';
import type { RealtimeMetrics } from './metrics.ts';
import { messageFrame, namedFrame } from './sse.ts';

/** Which open streams to close: a session's, a member's (in one tablo or all), or a tablo's. */
export type StreamScope = { sessionId: string } | { userId: number; tabloId?: number } | { tabloId: number };

/** What changed about a tablo, for the people who can see it (invitations: for the people named). */
export type TabloChange = 'members' | 'renamed' | 'deleted' | 'invitations';

const PRESENCE_COALESCE_MS = 150;
const PRESENCE_SHOWN = 12;

/**
 * Everything that reaches the streams open on this instance. A bus calls it: the in-process bus
 * directly, the Postgres bus when a notification arrives. Messages go to the tablo's discussion
 * streams; people's other streams (lists, other discussions) get small named events — only people
 * who are members of the tablo at that moment.
 */
export class LocalFanout {
  private readonly presenceDue = new Set<number>();
  private presenceTimer: NodeJS.Timeout | undefined;
  /** Who has the tablo's discussion open: here only, or across instances (set by the bus). */
  whoIsHere: (tabloId: number) => Promise<number[]>;

  constructor(
    private readonly db: Database,
    readonly broker: DiscussionBroker,
    private readonly logger: Logger,
    private readonly metrics: RealtimeMetrics,
  ) {
    this.whoIsHere = async (tabloId) => broker.presentIn(tabloId);
  }

  message(message: Pick<Message, 'tabloId' | 'seq'>, html: string): void {
    const started = performance.now();
    this.broker.publish(message.tabloId, messageFrame(message.seq, html));
    // Publishing writes to every live stream before it returns: this is publish-to-write for all.
    this.metrics.publishToWrite.observe((performance.now() - started) / 1000);
    const activity = namedFrame('activity', JSON.stringify({ tablo: message.tabloId, seq: message.seq }));
    this.tellMembers(message.tabloId, activity, [], message.tabloId);
  }

  tabloChanged(tabloId: number, change: TabloChange, alsoTell: number[] = []): void {
    const name = change === 'members' || change === 'invitations' ? change : 'tablo';
    const frame = namedFrame(name, JSON.stringify({ tablo: tabloId, change }));
    // An invitation concerns the invited person and the inviter, not the tablo's members.
    if (change === 'invitations') this.broker.notifyPeople(new Set(alsoTell), frame);
    else this.tellMembers(tabloId, frame, alsoTell);
  }

  /** A person read further: their other pages (lists, titles) count less now. */
  readAdvanced(positions: Pick<ReadPosition, 'tabloId' | 'userId'>[]): void {
    for (const { tabloId, userId } of positions) {
      this.broker.notifyPeople([userId], namedFrame('read', JSON.stringify({ tablo: tabloId })), tabloId);
    }
  }

  closeStreams(scope: StreamScope, reason: CloseReason): void {
    this.broker.closeStreams((owner) => matchesScope(scope, owner), reason);
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
    const people = ids.size
      ? await this.db.selectFrom('users').select(['id', 'name']).where('id', 'in', [...ids]).orderBy('name').execute()
      : [];
    return renderPartial('presence', { shown: people.slice(0, PRESENCE_SHOWN), more: Math.max(0, people.length - PRESENCE_SHOWN) }).trim();
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

  /** Only members learn about a tablo; the query runs only when someone could be told. */
  private tellMembers(tabloId: number, frame: string, alsoTell: number[], exceptTabloId?: number): void {
    if (!this.broker.hasListenersBesides(exceptTabloId ?? -1) && alsoTell.length === 0) return;
    memberIds(this.db, tabloId).then(
      (members) => this.broker.notifyPeople(new Set([...members, ...alsoTell]), frame, exceptTabloId),
      (error) => this.logger.warn({ err: error, tabloId }, 'telling members failed'),
    );
  }
}

export function matchesScope(scope: StreamScope, owner: { userId: number; sessionId: string; tabloId?: number }): boolean {
  if ('sessionId' in scope) return owner.sessionId === scope.sessionId;
  if ('userId' in scope) return owner.userId === scope.userId && (scope.tabloId === undefined || owner.tabloId === scope.tabloId);
  return owner.tabloId === scope.tabloId;
}
