import type { RawBuilder, Transaction } from 'kysely';
import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';
import type { Tables } from '../db/schema.ts';
import type { Broker, ReadPosition } from './broker.ts';
import type { RealtimeBus } from './bus.ts';
import type { CloseReason, TabloChange } from './events.ts';
import type { ChangeEvent, LiveRules, LocalFanout, StreamScope } from './fanout.ts';
import type { RealtimeMetrics } from './metrics.ts';
import { MAX_IDS_PER_NOTICE, type Notice, notifyInsertedSql, notifySql } from './notices.ts';
import { NoticeListener, sendNotice } from './postgres-listener.ts';
import type { PresenceStore } from './presence-store.ts';
import { writeTogether } from './stream.ts';

/**
 * Several instances behind a load balancer share one PostgreSQL and use it as the bus. A change's
 * NOTIFY is sent inside its storing statement, so it is delivered on commit, in commit order;
 * each instance loads and renders the change once and fans out to its own streams. Revocations,
 * tablo changes and presence cross the same way. When the LISTEN connection drops and comes back,
 * every open stream's access is read again and every open discussion is poked so its streams
 * fill any gap from the table (the seq makes gaps visible): nothing lost, nothing doubled.
 */
export class PostgresBus implements RealtimeBus {
  readonly announceInserted: RawBuilder<unknown>;
  private readonly listener: NoticeListener;

  constructor(
    private readonly instanceId: string,
    databaseUrl: string,
    private readonly db: Database,
    private readonly fanout: LocalFanout,
    private readonly presence: PresenceStore,
    private readonly rules: LiveRules,
    private readonly logger: Logger,
    private readonly metrics: RealtimeMetrics,
  ) {
    this.announceInserted = notifyInsertedSql(instanceId);
    this.listener = new NoticeListener(
      databaseUrl,
      logger,
      { heard: (notices) => this.receive(notices), reconnected: () => this.catchUp() },
      () => metrics.busReconnects.inc(),
    );
  }

  start(): Promise<void> {
    return this.listener.start();
  }

  changed(event: ChangeEvent): void {
    // This instance has the fragment already; the others learn of it from the NOTIFY.
    this.fanout.change(event);
  }

  tabloChanged(tabloId: number, change: TabloChange, alsoTell: number[]): void {
    this.fanout.tabloChanged(tabloId, change, alsoTell);
    for (let i = 0; i === 0 || i < alsoTell.length; i += MAX_IDS_PER_NOTICE) {
      this.send({ k: 'tablo', from: this.instanceId, tablo: tabloId, change, tell: alsoTell.slice(i, i + MAX_IDS_PER_NOTICE) });
    }
  }

  invitationsChanged(tabloId: number, people: number[]): void {
    this.fanout.invitationsChanged(tabloId, people);
    for (let i = 0; i < people.length; i += MAX_IDS_PER_NOTICE) {
      this.send({ k: 'invitations', from: this.instanceId, tablo: tabloId, people: people.slice(i, i + MAX_IDS_PER_NOTICE) });
    }
  }

  async revokeWith<T>(scope: StreamScope, reason: CloseReason, change: (trx: Transaction<Tables>) => Promise<T>): Promise<T> {
    const result = await this.db.transaction().execute(async (trx) => {
      const changed = await change(trx);
      await notifySql({ k: 'close', from: this.instanceId, scope, reason }).execute(trx);
      return changed;
    });
    this.fanout.closeStreams(scope, reason);
    return result;
  }

  readAdvanced(positions: ReadPosition[]): void {
    this.fanout.readAdvanced(positions);
    for (let i = 0; i < positions.length; i += MAX_IDS_PER_NOTICE) {
      const read = positions.slice(i, i + MAX_IDS_PER_NOTICE).map((p): [number, number] => [p.tabloId, p.userId]);
      this.send({ k: 'read', from: this.instanceId, read });
    }
  }

  closeStreams(scope: StreamScope, reason: CloseReason): void {
    this.fanout.closeStreams(scope, reason);
    this.send({ k: 'close', from: this.instanceId, scope, reason });
  }

  presenceChanged(tabloId: number): void {
    this.presence.changed(tabloId);
  }

  /** The presence store wrote a tablo's row: show it here and tell the others. */
  presenceWritten(tabloId: number): void {
    this.fanout.presenceChanged(tabloId);
    this.send({ k: 'presence', from: this.instanceId, tablo: tabloId });
  }

  async stop(): Promise<void> {
    const tablos = await this.presence.stop();
    this.fanout.stop();
    // Awaited: the database pool closes right after this.
    await Promise.all(tablos.map((tablo) => sendNotice(this.db, { k: 'presence', from: this.instanceId, tablo }, this.logger)));
    await this.listener.stop();
  }

  private send(notice: Notice): void {
    void sendNotice(this.db, notice, this.logger);
  }

  /** What other instances announced, in commit order. The change events among them are read in one query. */
  private async receive(notices: Notice[]): Promise<void> {
    for (const notice of notices) this.metrics.busNotifications.labels(notice.k).inc();
    const theirs = notices.filter((notice) => notice.from !== this.instanceId); // acted on locally already
    const events = theirs.flatMap((n) => (n.k === 'event' ? [{ tabloId: n.tablo, seq: n.seq, messageId: n.id }] : []));
    const loaded = events.length ? await this.rules.loadChanges(events) : [];
    let next = 0;
    const actOnAll = () => {
      for (const notice of theirs) this.act(notice, notice.k === 'event' ? loaded[next++] : undefined);
    };
    // A turn's change events reach each reader together (one write), not one by one.
    if (events.length > 1) writeTogether(actOnAll);
    else actOnAll();
  }

  /** One notice from another instance; `event`, a change event's, loaded. */
  private act(notice: Notice, event: ChangeEvent | undefined): void {
    switch (notice.k) {
      case 'event':
        if (event) this.fanout.change(event);
        return;
      case 'tablo':
        return this.fanout.tabloChanged(notice.tablo, notice.change, notice.tell);
      case 'invitations':
        return this.fanout.invitationsChanged(notice.tablo, notice.people);
      case 'close':
        return this.fanout.closeStreams(notice.scope, notice.reason);
      case 'presence':
        return this.fanout.presenceChanged(notice.tablo);
      case 'read':
        return this.fanout.readAdvanced(notice.read.map(([tabloId, userId]) => ({ tabloId, userId })));
    }
  }

  /**
   * Notices sent while we were not listening are gone. Revocations first: a stream that lost its
   * access meanwhile must get nothing more, neither caught up nor live. Then each open discussion
   * learns the newest seq of its log, so every stream that is behind fills the gap from the table;
   * presence is shown afresh.
   */
  private async catchUp(): Promise<void> {
    await this.fanout.closeRevokedStreams().catch((error) => this.logger.warn({ err: error }, 'rechecking access after reconnect failed'));
    const broker: Broker = this.fanout.broker;
    const tabloIds = [...broker.presence().keys()];
    if (tabloIds.length) {
      for (const [tabloId, seq] of await this.rules.newestSeqs(tabloIds)) broker.reached(tabloId, seq);
      for (const tabloId of tabloIds) this.fanout.presenceChanged(tabloId);
    }
    await this.presence.refresh();
  }
}
