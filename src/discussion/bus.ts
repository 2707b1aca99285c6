import type { CloseReason } from './broker.ts';
import type { LocalFanout, StreamScope, TabloChange } from './fanout.ts';
import type { InTransaction, Message } from './messages.ts';

export type { StreamScope } from './fanout.ts';

/**
 * How posted messages, tablo changes, presence and revocations reach every open stream. The
 * in-process bus serves one instance; the Postgres bus (LISTEN/NOTIFY) sits behind the same
 * interface for several.
 */
export interface RealtimeBus {
  /** Added to the inserting transaction (e.g. a NOTIFY, delivered on commit in commit order). */
  readonly inTransaction?: InTransaction;
  /** After commit, with the fragment rendered once. Never waits for a socket. */
  messagePosted(message: Message, html: string): void;
  tabloChanged(tabloId: number, change: TabloChange, alsoTell?: number[]): void;
  closeStreams(scope: StreamScope, reason: CloseReason): void;
  stop(): Promise<void>;
}

export class MemoryBus implements RealtimeBus {
  constructor(private readonly fanout: LocalFanout) {
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

  async stop(): Promise<void> {
    this.fanout.stop();
  }
}
