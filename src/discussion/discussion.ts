import type { Database } from '../db/database.ts';
import type { Live } from '../live/live.ts';
import { LiveEvent } from '../live/sse.ts';
import { type ChangeOutcome, type Logged, storeDeletion, storeEdit, storeReactionToggle } from './changes.ts';
import { renderMessage } from './fragment.ts';
import { findMentions } from './mentions.ts';
import { changeJson } from './message-json.ts';
import { postQueueOf } from './post-queue.ts';
import { eventsAfter, findMessage, findMessages, type Message, type NewAttachment, storeMessage } from './messages.ts';

// The domain verbs of a discussion. Each stores its change (numbered in the tablo's log,
// committed), then announces it: persist, then publish — a change reaches streams only once its
// transaction has committed. Each answers the changed message's fragment, rendered once.

export type Changed = { message: Message; html: string };

export type Posted = { message: Message; html: string; created: boolean };

/**
 * A tablo's discussion receives a message. With a file attached, `settle` (which puts the file's
 * bytes in place) runs in the message's transaction, just before the one statement that numbers
 * and stores the message and its attachment row: the row is committed only with its bytes in place.
 * Without a file, posts to one tablo that arrive while one is being stored are stored together in
 * the next statement (group commit, see PostQueue); a file's post goes on its own.
 */
export async function postMessage(
  db: Database,
  live: Live,
  input: { tabloId: number; authorId: number; body: string; clientToken: string | undefined; replyTo?: number },
  file?: { attachment: NewAttachment; settle: (trx: Database) => Promise<void> },
): Promise<Posted> {
  const mentions = await findMentions(db, input.tabloId, input.body);
  const stored = file
    ? await db.transaction().execute(async (trx) => {
        await file.settle(trx);
        return storeMessage(trx, { ...input, mentions }, live.announceInserted, file.attachment);
      })
    : await postQueueOf(db).store({ ...input, mentions }, live.announceInserted);
  // A reply quotes its original as it is once the reply is committed: read it afresh.
  const message = stored.created && input.replyTo ? ((await findMessage(db, stored.message.id)) ?? stored.message) : stored.message;
  const html = renderMessage(message);
  if (stored.created) {
    live.metrics.messagesPosted.inc();
    // Published on the next turn (see Live.changed): the poster's answer goes out first.
    live.changed({ tabloId: message.tabloId, seq: message.seq, html, json: changeJson(message.seq, 'created', message) });
  }
  return { message, html, created: stored.created };
}

/** Whether a message can be replied to in this tablo: it is one of its messages. */
export async function isMessageOf(db: Database, tabloId: number, messageId: number): Promise<boolean> {
  const row = await db.selectFrom('messages').select('id').where('id', '=', messageId).where('tablo_id', '=', tabloId).executeTakeFirst();
  return row !== undefined;
}

/** The author edits their message; the replies quoting it change with it. */
export async function editMessage(
  db: Database,
  live: Live,
  input: { tabloId: number; messageId: number; userId: number; body: string },
): Promise<Changed | 'not-found' | 'forbidden'> {
  const mentions = await findMentions(db, input.tabloId, input.body);
  return announce(db, live, input.messageId, await storeEdit(db, { ...input, mentions }, live.announceInserted));
}

/** What becomes of a deleted message's files' bytes: removed unless another message has the same. */
export type FileBytes = { discardUnreferenced: (sha256s: string[]) => Promise<void> };

/**
 * The author or the tablo's owner deletes a message; the replies quoting it change with it. Its
 * files answer 404 from the commit on; their bytes go afterwards (bytes that stay by accident are
 * orphans, swept later).
 */
export async function deleteMessage(
  db: Database,
  live: Live,
  input: { tabloId: number; messageId: number; userId: number; ownerId: number },
  files?: FileBytes,
): Promise<Changed | 'not-found' | 'forbidden'> {
  const attached = await db
    .selectFrom('attachments')
    .select(['sha256', 'thumbnail_sha256'])
    .where('message_id', '=', input.messageId)
    .execute();
  const outcome = await announce(db, live, input.messageId, await storeDeletion(db, input, live.announceInserted));
  if (typeof outcome !== 'string' && attached.length && files) {
    await files.discardUnreferenced(attached.flatMap((a) => [a.sha256, ...(a.thumbnail_sha256 ? [a.thumbnail_sha256] : [])]));
  }
  return outcome;
}

/** A member adds their reaction with this emoji, or takes it back. */
export async function toggleReaction(
  db: Database,
  live: Live,
  input: { tabloId: number; messageId: number; userId: number; emoji: string },
): Promise<Changed | 'not-found'> {
  const logged = await storeReactionToggle(db, input, live.announceInserted);
  const changed = await announce(db, live, input.messageId, logged ?? 'not-found');
  return changed === 'forbidden' ? 'not-found' : changed;
}

/**
 * After commit: each event of the change goes out with its message's current fragment (which may
 * already show a later change: never staler than the table), in seq order.
 */
async function announce(db: Database, live: Live, messageId: number, outcome: ChangeOutcome): Promise<Changed | 'not-found' | 'forbidden'> {
  if (typeof outcome === 'string') return outcome;
  const messages = await findMessages(db, outcome.map((e) => e.id));
  const fragments = new Map([...messages].map(([id, message]) => [id, renderMessage(message)]));
  publish(live, messages, fragments, outcome);
  const message = messages.get(messageId);
  const html = fragments.get(messageId);
  if (!message || html === undefined) return 'not-found'; // its tablo was deleted meanwhile
  return { message, html };
}

function publish(live: Live, messages: Map<number, Message>, fragments: Map<number, string>, logged: Logged): void {
  for (const event of logged) {
    const message = messages.get(event.id);
    const html = fragments.get(event.id);
    if (message && html !== undefined) {
      live.changed({ tabloId: message.tabloId, seq: event.seq, html, json: changeJson(event.seq, event.kind, message) });
    }
  }
}

/**
 * Backfill for a stream: the log's events after a seq, framed as the live ones are, each with the
 * changed message in its current state — its fragment rendered once per message per batch, or
 * its JSON, whichever the stream asks for.
 */
export async function framedEventsAfter(db: Database, tabloId: number, afterSeq: number, limit: number): Promise<LiveEvent[]> {
  const events = await eventsAfter(db, tabloId, afterSeq, limit);
  const fragments = new Map<number, string>();
  const fragmentOf = (message: Message) => {
    let html = fragments.get(message.id);
    if (html === undefined) fragments.set(message.id, (html = renderMessage(message)));
    return html;
  };
  return events.map(
    ({ seq, kind, message }) => new LiveEvent(seq, { html: () => fragmentOf(message), json: () => changeJson(seq, kind, message) }),
  );
}
