/**
 * The message fragment the bare and Socket.IO servers send: the same shape and about the same
 * size as Tablo's (views/partials/message), so that every target moves the same bytes.
 */
const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function articleHtml(id: number, body: string): string {
  const at = new Date().toISOString();
  return (
    `<article id="message-${id}" class="message" data-author-id="1" data-seq="${id}"><header class="message-meta">` +
    `<span class="message-author">Bench Poster</span> <time datetime="${at}">${at.slice(0, 16).replace('T', ' ')} UTC</time>` +
    `</header><div class="message-body">${escapeHtml(body)}</div></article>`
  );
}
