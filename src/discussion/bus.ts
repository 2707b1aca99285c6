import type { Transaction } from 'kysely';
import type { Database } from '../db/database.ts';
import type { Tables } from '../db/schema.ts';
import type { CloseReason, ReadPosition } from './broker.ts';
import type { LocalFanout, StreamScope, TabloChange } from './fanout.ts';
import type { Message, MessageNotice } from './messages.ts';

export type { StreamScope } from './fanout.ts';

/**
 * How posted messages, tablo changes, presence and revocations reach every open stream. The
 * in-process bus serves one instance; the Postgres bus (LISTEN/NOTIFY) sits behind the same
 * interface for several.
 */
export interface RealtimeBus {
  /** A NOTIFY sent by the statement that stores a message (delivered on commit, in commit order). */
  readonly messageNotice?: MessageNotice;
  /** After commit, with the fragment rendered once. Never waits for a socket. */
  messagePosted(message: Message, html: string): void;
  tabloChanged(tabloId: number, change: TabloChange, alsoTell?: number[]): void;
  closeStreams(scope: StreamScope, reason: CloseReason): void;
  readAdvanced(positions: ReadPosition[]): void;
  /**
   * Runs `change` (a removal, a deletion) in a transaction; once it commits, the streams in
   * `scope` end everywhere. Across instances the revocation is announced inside the transaction,
   * so it reaches the others in commit order with messages: none committed after the change
   * reaches those streams.
   */
  revokeWith<T>(scope: StreamScope, reason: CloseReason, change: (trx: Transaction<Tables>) => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

export class MemoryBus implements RealtimeBus {
  constructor(
    private readonly fanout: LocalFanout,
    private readonly db: Database,
  ) {
    fanout.broker.onPresenceChange = (tabloId) => fanout.presenceChanged(tabloId);
  }

  messagePosted(message: Message, html: string): void {
    this.fanout.message(message, html);
  }

  tabloChanged(tabloId: number, change: TabloChange, alsoTell: number[] = []): void {
    this.fanout.tabloChanged(tabloId, change, alsoTell);
  }

  closeStreams(scope: StreamScope, reason: CloseReason): void {
    this.fanout.closeStreams(scope, reason);
  }

  readAdvanced(positions: ReadPosition[]): void {
    this.fanout.readAdvanced(positions);
  }

  async revokeWith<T>(scope: StreamScope, reason: CloseReason, change: (trx: Transaction<Tables>) => Promise<T>): Promise<T> {
    const result = await this.db.transaction().execute(change);
    this.fanout.closeStreams(scope, reason);
    return result;
  }

  async stop(): Promise<void> {
    this.fanout.stop();
  }
}
