import type { DiscussionBroker, StreamOwner, CloseReason } from './broker.ts';
import type { InTransaction, Message } from './messages.ts';
import { messageFrame } from './sse.ts';

/** Which open streams to close: a session's, a member's (in one tablo or all), or a tablo's. */
export type StreamScope = { sessionId: string } | { userId: number; tabloId?: number } | { tabloId: number };

/**
 * How a posted message and a revocation reach every open stream. The in-process bus serves one
 * instance; a Postgres-backed one (LISTEN/NOTIFY) sits behind the same interface for several.
 */
export interface RealtimeBus {
  /** Added to the inserting transaction (e.g. a NOTIFY, delivered on commit in commit order). */
  readonly inTransaction?: InTransaction;
  /** After commit, with the fragment rendered once. Never waits for a socket. */
  messagePosted(message: Message, html: string): void;
  closeStreams(scope: StreamScope, reason: CloseReason): void;
  stop(): Promise<void>;
}

export function matchesScope(scope: StreamScope, owner: StreamOwner): boolean {
  if ('sessionId' in scope) return owner.sessionId === scope.sessionId;
  if ('userId' in scope) return owner.userId === scope.userId && (scope.tabloId === undefined || owner.tabloId === scope.tabloId);
  return owner.tabloId === scope.tabloId;
}

export class MemoryBus implements RealtimeBus {
  constructor(private readonly broker: DiscussionBroker) {}

  messagePosted(message: Message, html: string): void {
    this.broker.publish(message.tabloId, messageFrame(message.seq, html));
  }

  closeStreams(scope: StreamScope, reason: CloseReason): void {
    this.broker.closeStreams((owner) => matchesScope(scope, owner), reason);
  }

  async stop(): Promise<void> {}
}
