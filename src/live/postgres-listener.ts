import pg from 'pg';
import type { Logger } from 'pino';
import type { Database } from '../db/database.ts';
import { CHANNEL, decodeNotice, type Notice, notifySql } from './notices.ts';

export type ListenerHandlers = {
  /**
   * The notices heard since the last call, in the order heard (commit order); the next call waits
   * for this one. Under load a call gets many: what it reads for them, it reads once.
   */
  heard: (notices: Notice[]) => Promise<void>;
  /** After a dropped connection is back: what was announced meanwhile is gone, catch up. Runs before anything heard on the new connection. */
  reconnected: () => Promise<void>;
};

/**
 * The Postgres bus's transport: one LISTEN connection per instance, handing what it hears on in
 * order; when the connection drops, it reconnects with backoff and has the bus catch up before
 * anything the new connection hears.
 */
export class NoticeListener {
  private client: pg.Client | undefined;
  private stopped = false;
  private queue: Promise<void> = Promise.resolve();
  /** Heard and not yet handed on: the next turn of the queue takes them all. */
  private pending: Notice[] = [];

  constructor(
    private readonly databaseUrl: string,
    private readonly logger: Logger,
    private readonly handlers: ListenerHandlers,
    private readonly onReconnect: () => void = () => {},
  ) {}

  /** Resolves once listening: an instance must not serve streams it could not feed. */
  start(): Promise<void> {
    return this.listen();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.client?.end().catch(() => {});
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.databaseUrl });
    // Postgres restarting or the connection being killed must not crash the process.
    client.on('error', (error) => this.logger.warn({ err: error }, 'bus connection error'));
    client.on('end', () => {
      if (this.client !== client || this.stopped) return;
      this.client = undefined;
      void this.reconnect();
    });
    client.on('notification', (n) => {
      if (n.channel !== CHANNEL || !n.payload) return;
      const notice = decodeNotice(n.payload);
      if (!notice) return this.logger.warn('bus notice not understood');
      // One turn at a time, so that change events reach streams in commit order; a turn takes
      // everything heard while the previous one ran.
      this.pending.push(notice);
      if (this.pending.length > 1) return;
      this.queue = this.queue
        .then(() => this.handlers.heard(this.pending.splice(0)))
        .catch((error) => this.logger.warn({ err: error }, 'bus notification failed'));
    });
    await client.connect();
    await client.query(`LISTEN ${CHANNEL}`);
    this.client = client;
  }

  private async reconnect(): Promise<void> {
    for (let attempt = 0; !this.stopped; attempt++) {
      const delay = Math.min(250 * 2 ** attempt, 10_000);
      this.logger.warn({ delay }, 'bus connection lost; reconnecting');
      await new Promise((resolve) => setTimeout(resolve, delay).unref());
      if (this.stopped) return;
      // What the new connection hears waits behind the catch-up, which waits for LISTEN.
      let listened: (ok: boolean) => void = () => {};
      const ready = new Promise<boolean>((resolve) => (listened = resolve));
      const catchUp = this.queue.then(async () => {
        if (await ready) await this.handlers.reconnected();
      });
      this.queue = catchUp.catch((error) => this.logger.warn({ err: error }, 'catching up after reconnect failed'));
      try {
        await this.listen();
      } catch (error) {
        listened(false);
        this.logger.warn({ err: error }, 'bus reconnect failed');
        continue;
      }
      listened(true);
      this.onReconnect();
      this.logger.info('bus reconnected');
      await this.queue;
      return;
    }
  }
}

/** Sends a notice now (outside any transaction). Never rejects. */
export async function sendNotice(db: Database, notice: Notice, logger: Logger): Promise<void> {
  await notifySql(notice)
    .execute(db)
    .catch((error) => logger.warn({ err: error, kind: notice.k }, 'bus notify failed'));
}
