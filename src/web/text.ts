/**
 * One-line text typed into a form (a name, a title) has no control characters. PostgreSQL cannot
 * store NUL at all, so without this check a stray %00 in a form would be a 500, not a 422.
 */
export function isOneLineText(value: string): boolean {
  return !/[\u0000-\u001f\u007f]/.test(value);
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe to place in HTML (between tags or inside a quoted attribute). */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}
