import { renderPartial } from '../web/views.ts';
import { bodyToHtml, isEmojiOnly } from './markdown.ts';
import type { Message } from './messages.ts';

/**
 * The message fragment: the one piece of HTML that the page, the POST answer and every stream
 * subscriber show. It depends only on the message, never on who views it ("mine" styling and
 * local time are done in the browser), so it is rendered once and the same bytes go everywhere.
 */
export function renderMessage(message: Message): string {
  const html = renderPartial('message', {
    id: message.id,
    seq: message.seq,
    authorId: message.authorId,
    authorName: message.authorName,
    createdAt: message.createdAt.toISOString(),
    shownTime: `${message.createdAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    bodyHtml: bodyToHtml(message.body),
    emojiOnly: isEmojiOnly(message.body),
  });
  return html.trimEnd(); // the template file's final newline
}
