import { randomUUID } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';
import type { Tables } from '../db/schema.ts';
import type { CloseReason, ReadPosition, StreamOwner } from './broker.ts';
import type { RealtimeBus } from './bus.ts';
import type { LocalFanout, StreamScope, TabloChange } from './fanout.ts';
import { renderMessage } from './fragment.ts';
import { findMessage, type Message, type MessageNotice } from './messages.ts';
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
  | { k: 'presence'; from: string; tablo: number }
  | { k: 'read'; from: string; read: [tablo: number, user: number][] };

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
  /** Per tablo, the presence write under way (writes of one tablo never overlap). */
  private readonly presenceWrites = new Map<number, Promise<void>>();
  /** Tablos whose presence write is queued and not yet begun. */
  private readonly presenceDue = new Set<number>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(
    private readonly databaseUrl: string,
    private readonly db: Database,
    private readonly fanout: LocalFanout,
    private readonly logger: Logger,
    private readonly metrics: RealtimeMetrics,
  ) {
    fanout.whoIsHere = (tabloId) => this.whoIsHere(tabloId);
    fanout.broker.onPresenceChange = (tabloId) => this.publishPresence(tabloId);
    this.heartbeat = setInterval(() => void this.refreshPresence(), PRESENCE_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Resolves once listening: an instance must not serve streams it could not feed. */
  async start(): Promise<void> {
    await this.listen();
  }

  /** Every message's NOTIFY goes out with the statement that stores it: identifiers only. */
  get messageNotice(): MessageNotice {
    return { channel: CHANNEL, from: this.instanceId };
  }


  messagePosted(message: Message, html: string): void {
    // This instance has the fragment already; the others learn of it from the NOTIFY.
    this.fanout.message(message, html);
  }

  tabloChanged(tabloId: number, change: TabloChange, alsoTell: number[] = []): void {
    this.fanout.tabloChanged(tabloId, change, alsoTell);
    for (let i = 0; i === 0 || i < alsoTell.length; i += MAX_IDS_PER_NOTIFICATION) {
      void this.notify({ k: 'change', from: this.instanceId, tablo: tabloId, change, tell: alsoTell.slice(i, i + MAX_IDS_PER_NOTIFICATION) });
    }
  }

  async revokeWith<T>(scope: StreamScope, reason: CloseReason, change: (trx: Transaction<Tables>) => Promise<T>): Promise<T> {
    const result = await this.db.transaction().execute(async (trx) => {
      const changed = await change(trx);
      const notice: Notice = { k: 'close', from: this.instanceId, scope, reason };
      await sql`SELECT pg_notify(${CHANNEL}, ${JSON.stringify(notice)})`.execute(trx);
      return changed;
    });
    this.fanout.closeStreams(scope, reason);
    return result;
  }

  readAdvanced(positions: ReadPosition[]): void {
    this.fanout.readAdvanced(positions);
    for (let i = 0; i < positions.length; i += MAX_IDS_PER_NOTIFICATION) {
      const read = positions.slice(i, i + MAX_IDS_PER_NOTIFICATION).map((p): [number, number] => [p.tabloId, p.userId]);
      this.notify({ k: 'read', from: this.instanceId, read });
    }
  }

  closeStreams(scope: StreamScope, reason: CloseReason): void {
    this.fanout.closeStreams(scope, reason);
    void this.notify({ k: 'close', from: this.instanceId, scope, reason });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.heartbeat);
    // Writes still under way would put rows back after the delete below.
    await Promise.all(this.presenceWrites.values());
    this.fanout.stop();
    const tablos = await this.db
      .deleteFrom('presence')
      .where('instance_id', '=', this.instanceId)
      .returning('tablo_id')
      .execute()
      .catch(() => []);
    // Awaited: the database pool closes right after this.
    await Promise.all([...new Set(tablos.map((t) => t.tablo_id))].map((tablo) => this.notify({ k: 'presence', from: this.instanceId, tablo })));
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
      // What the new connection hears waits behind the catch-up, which waits for LISTEN.
      // Revocations first: a stream that lost its access while we were not listening must get
      // nothing more, neither caught up nor live.
      let listened: (ok: boolean) => void = () => {};
      const ready = new Promise<boolean>((resolve) => (listened = resolve));
      const catchUp = this.queue.then(async () => {
        if (!(await ready)) return;
        await this.closeRevokedStreams().catch((error) => this.logger.warn({ err: error }, 'rechecking access after reconnect failed'));
        await this.pokeOpenDiscussions().catch((error) => this.logger.warn({ err: error }, 'catching up after reconnect failed'));
      });
      this.queue = catchUp;
      try {
        await this.listen();
      } catch (error) {
        listened(false);
        this.logger.warn({ err: error }, 'bus reconnect failed');
        continue;
      }
      listened(true);
      this.metrics.busReconnects.inc();
      this.logger.info('bus reconnected');
      await catchUp;
      await this.refreshPresence();
      return;
    }
  }

  /**
   * Sign-outs, removals and deletions announced while we were not listening are gone too: read
   * again whether each open stream's session exists and its person is still a member, and close
   * those that lost access. Only the streams seen here are judged: one that opens meanwhile
   * checks its own access.
   */
  private async closeRevokedStreams(): Promise<void> {
    const broker = this.fanout.broker;
    const seen = new Set<StreamOwner>(broker.owners());
    if (seen.size === 0) return;
    const owners = [...seen];
    const sessionIds = [...new Set(owners.map((o) => o.sessionId))];
    const signedIn = new Set(
      (await this.db.selectFrom('sessions').select('sid').where('sid', 'in', sessionIds).execute()).map((r) => r.sid),
    );
    const tabloIds = [...new Set(owners.flatMap((o) => (o.tabloId === undefined ? [] : [o.tabloId])))];
    const members = new Set(
      tabloIds.length
        ? (await this.db.selectFrom('tablo_members').select(['tablo_id', 'user_id']).where('tablo_id', 'in', tabloIds).execute()).map(
            (m) => `${m.tablo_id}:${m.user_id}`,
          )
        : [],
    );
    broker.closeStreams((owner) => seen.has(owner) && !signedIn.has(owner.sessionId), 'signed-out');
    broker.closeStreams(
      (owner) => seen.has(owner) && owner.tabloId !== undefined && !members.has(`${owner.tabloId}:${owner.userId}`),
      'access-ended',
    );
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
    // Who came and went elsewhere meanwhile: shown afresh from the table.
    for (const tabloId of tabloIds) this.fanout.presenceChanged(tabloId);
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
      case 'read':
        return this.fanout.readAdvanced(notice.read.map(([tabloId, userId]) => ({ tabloId, userId })));
    }
  }

  private async deliverMessage(messageId: number): Promise<void> {
    const message = await findMessage(this.db, messageId);
    if (message) this.fanout.message(message, renderMessage(message));
  }

  /**
   * This instance's people on a tablo's discussion, written down for the others to read. The
   * writes of one tablo run one after another, each reading who is here when it begins: two
   * overlapping transactions (an open and a close) could otherwise leave the closed one's row
   * behind for good (the heartbeat keeps it fresh), or deadlock. A change while a write is queued
   * needs no write of its own.
   */
  private publishPresence(tabloId: number): void {
    if (this.stopped || this.presenceDue.has(tabloId)) return;
    this.presenceDue.add(tabloId);
    const write = (this.presenceWrites.get(tabloId) ?? Promise.resolve()).then(() => this.writePresence(tabloId));
    this.presenceWrites.set(tabloId, write);
    void write.then(() => {
      if (this.presenceWrites.get(tabloId) === write) this.presenceWrites.delete(tabloId);
    });
  }

  /** Never rejects. */
  private async writePresence(tabloId: number): Promise<void> {
    this.presenceDue.delete(tabloId);
    const here = this.fanout.broker.presentIn(tabloId);
    for (let attempt = 1; ; attempt++) {
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
        break;
      } catch (error) {
        // A deadlock with the heartbeat's UPDATE (it locks the same rows, maybe in another order)
        // is worth another go; a foreign-key failure means the tablo was just deleted.
        if ((error as { code?: string }).code === '40P01' && attempt < 3) continue;
        this.logger.debug({ err: error, tabloId }, 'presence not recorded');
        break;
      }
    }
    if (!this.stopped) this.fanout.presenceChanged(tabloId); // (once stopped, no stream is left here)
    void this.notify({ k: 'presence', from: this.instanceId, tablo: tabloId });
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

  /** Never rejects. */
  private async notify(notice: Notice): Promise<void> {
    await sql`SELECT pg_notify(${CHANNEL}, ${JSON.stringify(notice)})`
      .execute(this.db)
      .catch((error) => this.logger.warn({ err: error, kind: notice.k }, 'bus notify failed'));
  }
}
