import type { EventKind } from '../db/schema.ts';
import { attachmentsJson } from '../files/files.ts';
import type { JsonChange } from '../live/sse.ts';
import type { Message } from './messages.ts';

/** A message as programs see it (the API, its stream, webhooks): the same for every reader. */
export type MessageJson = {
  id: number;
  seq: number;
  version: number;
  author: { id: number; name: string; handle: string };
  /** null once deleted: a deleted message shows nothing of its body. */
  body: string | null;
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  /** The id of the message this one replies to. */
  reply_to: number | null;
  reactions: { emoji: string; count: number; user_ids: number[] }[];
  attachments: ReturnType<typeof attachmentsJson>;
};

/** The API's names for the kinds of change in a tablo's log. */
export type ChangeType = 'message.created' | 'message.updated' | 'message.deleted';

const CHANGE_TYPES: Record<EventKind, ChangeType> = {
  created: 'message.created',
  edited: 'message.updated',
  reacted: 'message.updated',
  quoted: 'message.updated',
  deleted: 'message.deleted',
};

export function changeType(kind: EventKind): ChangeType {
  return CHANGE_TYPES[kind];
}

export function messageJson(message: Message): MessageJson {
  const deleted = message.deletedAt !== null;
  return {
    id: message.id,
    seq: message.seq,
    version: message.version,
    author: { id: message.authorId, name: message.authorName, handle: message.authorHandle },
    body: deleted ? null : message.body,
    created_at: message.createdAt.toISOString(),
    edited_at: message.editedAt?.toISOString() ?? null,
    deleted,
    reply_to: message.replyTo?.id ?? null,
    reactions: deleted ? [] : message.reactions.map((r) => ({ emoji: r.emoji, count: r.userIds.length, user_ids: r.userIds })),
    attachments: deleted ? [] : attachmentsJson(message.attachments),
  };
}

/** A change event of the log as the API's stream carries it: `{seq, type, message}`, the message as it is now. */
export function changeJson(seq: number, kind: EventKind, message: Message): JsonChange {
  const type = changeType(kind);
  return { type, data: JSON.stringify({ seq, type, message: messageJson(message) }) };
}
