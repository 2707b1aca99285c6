import type { Database } from '../db/database.ts';
import type { DiscussionBroker, StreamOwner } from './broker.ts';
import type { RealtimeBus } from './bus.ts';
import type { LocalFanout } from './fanout.ts';
import { renderMessage } from './fragment.ts';
import { type Message, messagesAfter, storeMessage } from './messages.ts';
import type { RealtimeMetrics } from './metrics.ts';
import type { ReadTracker } from './read-state.ts';
import { type LiveMessage, messageFrame } from './sse.ts';

export type Realtime = {
  broker: DiscussionBroker;
  fanout: LocalFanout;
  bus: RealtimeBus;
  readTracker: ReadTracker;
  metrics: RealtimeMetrics;
  /**
   * Tests only (never set by the app): awaited by a discussion stream between its access check and
   * its subscription, so a test can land a removal or a sign-out exactly in that gap.
   */
  beforeSubscribe?: (owner: StreamOwner) => Promise<void>;
};

/** Persist, then publish: a message reaches streams only once its transaction has committed. */
export async function postMessage(
  db: Database,
  realtime: Realtime,
  input: { tabloId: number; authorId: number; body: string; clientToken: string | undefined },
): Promise<{ message: Message; html: string; created: boolean }> {
  const { message, created } = await storeMessage(db, input, realtime.bus.messageNotice);
  const html = renderMessage(message);
  if (created) {
    realtime.metrics.messagesPosted.inc();
    // The poster's answer goes out first; the fan-out to a large room follows right after.
    setImmediate(() => realtime.bus.messagePosted(message, html));
  }
  return { message, html, created };
}

/** Backfill for a stream: committed messages after a seq, framed as the live ones are. */
export async function framedMessagesAfter(db: Database, tabloId: number, afterSeq: number, limit: number): Promise<LiveMessage[]> {
  const messages = await messagesAfter(db, tabloId, afterSeq, limit);
  return messages.map((m) => messageFrame(m.seq, renderMessage(m)));
}
