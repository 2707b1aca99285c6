import type { Database } from '../db/database.ts';
import type { Live } from '../live/live.ts';
import { changeFrame, type LiveEvent } from '../live/sse.ts';
import { renderMessage } from './fragment.ts';
import { type Message, messagesAfter, storeMessage } from './messages.ts';

/**
 * A tablo's discussion receives a message: stored (numbered, committed), then announced. Persist,
 * then publish: a message reaches streams only once its transaction has committed.
 */
export async function postMessage(
  db: Database,
  live: Live,
  input: { tabloId: number; authorId: number; body: string; clientToken: string | undefined },
): Promise<{ message: Message; html: string; created: boolean }> {
  const { message, created } = await storeMessage(db, input, live.announceInserted);
  const html = renderMessage(message);
  if (created) {
    live.metrics.messagesPosted.inc();
    // The poster's answer goes out first; the fan-out to a large room follows right after.
    setImmediate(() => live.changed({ tabloId: message.tabloId, seq: message.seq, html }));
  }
  return { message, html, created };
}

/** Backfill for a stream: committed change events after a seq, framed as the live ones are. */
export async function framedEventsAfter(db: Database, tabloId: number, afterSeq: number, limit: number): Promise<LiveEvent[]> {
  const messages = await messagesAfter(db, tabloId, afterSeq, limit);
  return messages.map((m) => changeFrame(m.seq, renderMessage(m)));
}
