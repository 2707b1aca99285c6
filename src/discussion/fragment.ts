import { LRUCache } from 'lru-cache';
import { renderPartial } from '../web/views.ts';
import { bodyToHtml, isEmojiOnly } from './markdown.ts';
import { fileUrl, thumbnailUrl } from '../files/files.ts';
import { isPlayedVideo, shownSize } from '../files/types.ts';
import { mentionEnvOf } from './mentions.ts';
import type { Attachment, Message } from './messages.ts';

/**
 * The message fragment: the one piece of HTML that the page, the POST answer and every stream
 * subscriber show. It depends only on the message, never on who views it ("mine" styling, local
 * time and "mentions me" are done in the browser), so it is rendered once and the same bytes go
 * everywhere. The author's name links to their profile (which itself decides who may see it).
 */
export function renderMessage(message: Message, options: { highlighted?: boolean } = {}): string {
  const highlighted = options.highlighted === true;
  const key = `${highlighted ? 'h' : '-'}${JSON.stringify(message)}`;
  let html = rendered.get(key);
  if (html === undefined) rendered.set(key, (html = renderFragment(message, highlighted)));
  return html;
}

/**
 * Fragments already rendered, by everything they are rendered from: the whole message as read
 * and the highlight. Not by id and version alone: a rename, a reactor's rename or the quoted
 * message's edit or deletion changes what the fragment shows without a new version. The same
 * input renders the same bytes, so a remembered fragment is the one that would be rendered now,
 * whichever database or instance read the message. Bounded by characters (keys included): a page
 * of 50 ordinary messages is about 70,000.
 */
const rendered = new LRUCache<string, string>({
  maxSize: 16 * 2 ** 20,
  sizeCalculation: (html, key) => html.length + key.length,
});

/** renderMessage without the memory (the tests compare the two). */
export function renderFragment(message: Message, highlighted = false): string {
  const deleted = message.deletedAt !== null;
  const html = renderPartial('message', {
    id: message.id,
    seq: message.seq,
    version: message.version,
    authorId: message.authorId,
    createdAt: message.createdAt.toISOString(),
    shownTime: `${message.createdAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    highlighted,
    deleted,
    // A deleted message shows nothing of what it was: no author name, body, quote or reactions.
    ...(deleted
      ? {}
      : {
          authorName: message.authorName,
          profile: `/people/${message.authorId}`,
          // Mentions as stored with the message's text: the same bytes for every reader, at any time.
          bodyHtml: bodyToHtml(message.body, mentionEnvOf(message)),
          emojiOnly: isEmojiOnly(message.body),
          editedAt: message.editedAt?.toISOString(),
          reply: message.replyTo && {
            id: message.replyTo.id,
            deleted: message.replyTo.deleted,
            authorName: message.replyTo.authorName,
            excerpt: excerptOf(message.replyTo.excerpt),
          },
          attachments: message.attachments.map(shownAttachment),
          reactions: message.reactions.map((r) => ({
            emoji: r.emoji,
            count: r.userIds.length,
            userIds: r.userIds.join(' '),
            names: r.names.join(', '),
          })),
        }),
  });
  return html.trimEnd(); // the template file's final newline
}

/** What the fragment shows of a file: a thumbnail to open, a video to play, or a download. */
function shownAttachment(attachment: Attachment) {
  const url = fileUrl(attachment);
  const kind = attachment.thumbnail ? 'image' : isPlayedVideo(attachment.type) ? 'video' : 'file';
  return {
    kind,
    url,
    name: attachment.name,
    type: attachment.type,
    size: shownSize(attachment.size),
    thumbnailUrl: thumbnailUrl(attachment),
    thumbnail: attachment.thumbnail,
    width: attachment.width,
    height: attachment.height,
  };
}

const EXCERPT_CHARACTERS = 80;

/** The start of a quoted message, on one line. */
function excerptOf(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  const characters = [...oneLine];
  return characters.length > EXCERPT_CHARACTERS ? `${characters.slice(0, EXCERPT_CHARACTERS).join('').trimEnd()}…` : oneLine;
}
