import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';
import type { CloseReason } from './broker.ts';
import type { RealtimeBus } from './bus.ts';
import type { LocalFanout, StreamScope, TabloChange } from './fanout.ts';
import { renderMessage } from './fragment.ts';
import { findMessage, type InTransaction, type Message } from './messages.ts';
import type { RealtimeMetrics } from './metrics.ts';

const CHANNEL = 'tablo_events';
const PRESENCE_HEARTBEAT_MS = 10_000;
const PRESENCE_FRESH = '30 seconds';
const MAX_IDS_PER_NOTIFICATION = 400; // keeps every payload far below NOTIFY's 8000 bytes

/** What crosses instances: identifiers only, never content. */
type Notice =
  | { k: 'message'; from: string; tablo: number; seq: number; id: number }
  | { k: 'change'; from: string; tablo: number; change: TabloChange; tell: number[] }
  | { k: 'close'; from: string; scope: StreamScope; reason: CloseReason }
  | { k: 'presence'; from: string; tablo: number };

/**
 * Several instances behind a load balancer share one PostgreSQL and use it as the bus. A message's
 * NOTIFY is sent inside its inserting transaction, so it is delivered on commit, in commit order;
 * each instance loads and renders the message once and fans out to its own streams. Revocations,
 * tablo changes and presence cross the same way. Each instance keeps one LISTEN connection; when
 * it drops, it reconnects with backoff and pokes every open discussion so streams fill any gap
 * from the table (the seq makes gaps visible): nothing lost, nothing doubled.
 */
export class PostgresBus implements RealtimeBus {
  readonly instanceId = randomUUID();
  private listener: pg.Client | undefined;
  private stopped = false;
  private queue: Promise<void> = Promise.resolve();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly databaseUrl: string,
    private readonly db: Database,
    private readonly fanout: LocalFanout,
    private readonly logger: Logger,
    private readonly metrics: RealtimeMetrics,
  ) {
    fanout.whoIsHere = (tabloId) => this.whoIsHere(tabloId);
    fanout.broker.onPresenceChange = (tabloId) => void this.publishPresence(tabloId);
    this.heartbeat = setInterval(() => void this.refreshPresence(), PRESENCE_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Resolves once listening: an instance must not serve streams it could not feed. */
  async start(): Promise<void> {
    await this.listen();
  }

  readonly inTransaction: InTransaction = async (trx, message) => {
    const notice: Notice = { k: 'message', from: this.instanceId, tablo: message.tabloId, seq: message.seq, id: message.id };
    await sql`SELECT pg_notify(${CHANNEL}, ${JSON.stringify(notice)})`.execute(trx);
  };

  messagePosted(message: Message, html: string): void {
    // This instance has the fragment already; the others learn of it from the NOTIFY.
    this.fanout.message(message, html);
  }

  tabloChanged(tabloId: number, change: TabloChange, alsoTell: number[] = []): void {
    this.fanout.tabloChanged(tabloId, change, alsoTell);
    for (let i = 0; i === 0 || i < alsoTell.length; i += MAX_IDS_PER_NOTIFICATION) {
      this.notify({ k: 'change', from: this.instanceId, tablo: tabloId, change, tell: alsoTell.slice(i, i + MAX_IDS_PER_NOTIFICATION) });
    }
  }

  closeStreams(scope: StreamScope, reason: CloseReason): void {
    this.fanout.closeStreams(scope, reason);
    this.notify({ k: 'close', from: this.instanceId, scope, reason });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    this.fanout.stop();
    const tablos = await this.db
      .deleteFrom('presence')
      .where('instance_id', '=', this.instanceId)
      .returning('tablo_id')
      .execute()
      .catch(() => []);
    for (const tablo of new Set(tablos.map((t) => t.tablo_id))) this.notify({ k: 'presence', from: this.instanceId, tablo });
    await this.listener?.end().catch(() => {});
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    // Postgres restarting or the connection being killed must not crash the process.
    client.on('error', (error) => this.logger.warn({ err: error }, 'bus connection error'));
    client.on('end', () => {
      if (this.listener !== client || this.stopped) return;
      this.listener = undefined;
      void this.reconnect();
    });
    client.on('notification', (n) => {
      if (n.channel !== CHANNEL || !n.payload) return;
      const payload = n.payload;
      // One at a time, so that messages reach streams in commit order.
      this.queue = this.queue
        .then(() => this.receive(payload))
        .catch((error) => this.logger.warn({ err: error }, 'bus notification failed'));
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.listener = client;
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      const delay = Math.min(250 * 2 ** attempt, 10_000);
      this.logger.warn({ delay }, 'bus connection lost; reconnecting');
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
      if (this.stopped) return;
      try {
        await this.listen();
      } catch (error) {
        this.logger.warn({ err: error }, 'bus reconnect failed');
        continue;
      }
      this.metrics.busReconnects.inc();
      this.logger.info('bus reconnected');
      await this.pokeOpenDiscussions().catch((error) => this.logger.warn({ err: error }, 'catching up after reconnect failed'));
      await this.refreshPresence();
      return;
    }
  }

  /**
   * Notifications sent while we were not listening are gone. Handing each open discussion its
   * newest message makes every stream that is behind see a gap and fill it from the table.
   */
  private async pokeOpenDiscussions(): Promise<void> {
    const tabloIds = [...this.fanout.broker.presence().keys()];
    if (tabloIds.length === 0) return;
    const newest = await this.db
      .selectFrom('messages as m')
      .innerJoin('tablos as t', (join) => join.onRef('t.id', '=', 'm.tablo_id').onRef('t.last_seq', '=', 'm.seq'))
      .select('m.id')
      .where('m.tablo_id', 'in', tabloIds)
      .execute();
    for (const { id } of newest) await this.deliverMessage(id);
  }

  private async receive(payload: string): Promise<void> {
    const notice = JSON.parse(payload) as Notice;
    this.metrics.busNotifications.labels(notice.k).inc();
    if (notice.from === this.instanceId) return; // acted on locally already
    switch (notice.k) {
      case 'message':
        return this.deliverMessage(notice.id);
      case 'change':
        return this.fanout.tabloChanged(notice.tablo, notice.change, notice.tell);
      case 'close':
        return this.fanout.closeStreams(notice.scope, notice.reason);
      case 'presence':
        return this.fanout.presenceChanged(notice.tablo);
    }
  }

  private async deliverMessage(messageId: number): Promise<void> {
    const message = await findMessage(this.db, messageId);
    if (message) this.fanout.message(message, renderMessage(message));
  }

  /** This instance's people on a tablo's discussion, written down for the others to read. */
  private async publishPresence(tabloId: number): Promise<void> {
    const here = this.fanout.broker.presentIn(tabloId);
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('presence').where('instance_id', '=', this.instanceId).where('tablo_id', '=', tabloId).execute();
        if (here.length) {
          await trx
            .insertInto('presence')
            .values(here.map((userId) => ({ instance_id: this.instanceId, tablo_id: tabloId, user_id: userId })))
            .onConflict((oc) => oc.doNothing())
            .execute();
        }
      });
    } catch (error) {
      // A foreign-key failure means the tablo was just deleted: nobody is left to tell.
      this.logger.debug({ err: error, tabloId }, 'presence not recorded');
    }
    this.fanout.presenceChanged(tabloId);
    this.notify({ k: 'presence', from: this.instanceId, tablo: tabloId });
  }

  private async refreshPresence(): Promise<void> {
    if (this.stopped) return;
    await this.db
      .updateTable('presence')
      .set({ seen_at: sql`now()` })
      .where('instance_id', '=', this.instanceId)
      .execute()
      .catch((error) => this.logger.warn({ err: error }, 'presence heartbeat failed'));
  }

  private async whoIsHere(tabloId: number): Promise<number[]> {
    const rows = await this.db
      .selectFrom('presence')
      .select('user_id')
      .distinct()
      .where('tablo_id', '=', tabloId)
      .where('seen_at', '>', sql<Date>`now() - ${sql.lit(PRESENCE_FRESH)}::interval`)
      .execute();
    return rows.map((r) => r.user_id);
  }

  private notify(notice: Notice): void {
    sql`SELECT pg_notify(${CHANNEL}, ${JSON.stringify(notice)})`
      .execute(this.db)
      .catch((error) => this.logger.warn({ err: error, kind: notice.k }, 'bus notify failed'));
  }
}
