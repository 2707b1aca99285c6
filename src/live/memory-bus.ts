import type { Transaction } from 'kysely';
import type { Database } from '../db/database.ts';
import type { Tables } from '../db/schema.ts';
import type { ReadPosition } from './broker.ts';
import type { RealtimeBus } from './bus.ts';
import type { CloseReason, TabloChange } from './events.ts';
import type { ChangeEvent, LocalFanout, StreamScope } from './fanout.ts';

/** One instance: everything goes straight to this instance's streams. */
export class MemoryBus implements RealtimeBus {
  readonly announceInserted = undefined;

  constructor(
    private readonly fanout: LocalFanout,
    private readonly db: Database,
  ) {}

  changed(event: ChangeEvent): void {
    this.fanout.change(event);
  }

  tabloChanged(tabloId: number, change: TabloChange, alsoTell: number[]): void {
    this.fanout.tabloChanged(tabloId, change, alsoTell);
  }

  invitationsChanged(tabloId: number, people: number[]): void {
    this.fanout.invitationsChanged(tabloId, people);
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

  presenceChanged(tabloId: number): void {
    this.fanout.presenceChanged(tabloId);
  }

  async stop(): Promise<void> {
    this.fanout.stop();
  }
}
