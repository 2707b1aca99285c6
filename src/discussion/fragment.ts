import { renderPartial } from '../web/views.ts';
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
  });
  return html.trimEnd(); // the template file's final newline
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
