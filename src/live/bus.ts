import type { RawBuilder, Transaction } from 'kysely';
import type { Tables } from '../db/schema.ts';
import type { ReadPosition } from './broker.ts';
import type { CloseReason, TabloChange } from './events.ts';
import type { ChangeEvent, StreamScope } from './fanout.ts';

/**
 * How change events, tablo changes, presence and revocations reach every open stream. The
 * in-process bus serves one instance; the Postgres bus (LISTEN/NOTIFY) sits behind the same
 * interface for several.
 */
export interface RealtimeBus {
  /**
   * A CTE to add to the statement that stores changes (after a CTE named `inserted`), announcing
   * each to the other instances on commit, in commit order; undefined when there are none.
   */
  readonly announceInserted: RawBuilder<unknown> | undefined;
  /** After commit, with the fragment rendered once. Never waits for a socket. */
  changed(event: ChangeEvent): void;
  tabloChanged(tabloId: number, change: TabloChange, alsoTell: number[]): void;
  invitationsChanged(tabloId: number, people: number[]): void;
  closeStreams(scope: StreamScope, reason: CloseReason): void;
  readAdvanced(positions: ReadPosition[]): void;
  /**
   * Runs `change` (a removal, a deletion) in a transaction; once it commits, the streams in
   * `scope` end everywhere. Across instances the revocation is announced inside the transaction,
   * so it reaches the others in commit order with the change events: none committed after the
   * change reaches those streams.
   */
  revokeWith<T>(scope: StreamScope, reason: CloseReason, change: (trx: Transaction<Tables>) => Promise<T>): Promise<T>;
  /** The set of people with a discussion open on this instance changed. */
  presenceChanged(tabloId: number): void;
  stop(): Promise<void>;
}
