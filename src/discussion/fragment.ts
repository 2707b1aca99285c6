import { renderPartial } from '../web/views.ts';
import type { Message } from './messages.ts';

/**
 * The message fragment: the one piece of HTML that the page, the POST answer and every stream
 * subscriber show. It depends only on the message, never on who views it ("mine" styling and
 * local time are done in the browser), so it is rendered once and the same bytes go everywhere.
 */
export function renderMessage(message: Message, options: { highlighted?: boolean } = {}): string {
  const deleted = message.deletedAt !== null;
  const html = renderPartial('message', {
    id: message.id,
    seq: message.seq,
    version: message.version,
    authorId: message.authorId,
    createdAt: message.createdAt.toISOString(),
    shownTime: `${message.createdAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    highlighted: options.highlighted === true,
    deleted,
    // A deleted message shows nothing of what it was: no author name, body, quote or reactions.
    ...(deleted
      ? {}
      : {
          authorName: message.authorName,
          bodyHtml: bodyToHtml(message.body),
          editedAt: message.editedAt?.toISOString(),
          reply: message.replyTo && {
            id: message.replyTo.id,
            deleted: message.replyTo.deleted,
            authorName: message.replyTo.authorName,
            excerpt: excerptOf(message.replyTo.excerpt),
          },
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

const EXCERPT_CHARACTERS = 80;

/** The start of a quoted message, on one line. */
function excerptOf(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  const characters = [...oneLine];
  return characters.length > EXCERPT_CHARACTERS ? `${characters.slice(0, EXCERPT_CHARACTERS).join('').trimEnd()}…` : oneLine;
}

// http(s) URLs, up to whitespace or characters that cannot be in one unescaped.
const LINK = /\bhttps?:\/\/[^\s<>"'`]+/gi;
// Punctuation that usually ends the sentence rather than the URL.
const TRAILING = /[.,;:!?)\]}]+$/;

/** Text in, safe HTML out: everything escaped, http(s) links made clickable. */
export function bodyToHtml(body: string): string {
  let html = '';
  let last = 0;
  for (const match of body.matchAll(LINK)) {
    const url = match[0].replace(TRAILING, '');
    const start = match.index;
    html += escapeHtml(body.slice(last, start));
    html += `<a href="${escapeHtml(url)}" rel="noopener noreferrer nofollow" target="_blank">${escapeHtml(url)}</a>`;
    last = start + url.length;
  }
  return html + escapeHtml(body.slice(last));
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]!);
}
