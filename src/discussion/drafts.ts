import { MAX_BODY_CHARACTERS } from './messages.ts';

// The rules a message's text follows, wherever it comes from: the composer, the editor, the API.

/** A message body, as posted or edited: 1–5000 characters after trimming, no control characters. */
export function readBody(field: unknown): { body: string; raw: string } | { error: string; raw: string } {
  const raw = typeof field === 'string' ? field : '';
  // Browsers send textarea line breaks as CRLF; a bare CR would also end an SSE line.
  const body = raw.replace(/\r\n?/g, '\n').trim();
  const characters = [...body].length;
  if (characters === 0) return { error: 'Write something before sending.', raw };
  if (characters > MAX_BODY_CHARACTERS) {
    return { error: `Messages can be at most 5,000 characters; this one has ${characters.toLocaleString('en')}.`, raw };
  }
  // Tabs and line breaks are text; other control characters (NUL above all, which PostgreSQL
  // cannot store) are not.
  if (/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(body)) {
    return { error: 'This message contains characters that cannot be sent.', raw };
  }
  return { body, raw };
}

