// Server-Sent Events parsing, as the HTML standard describes it, over a fetch response body: lines
// end in CRLF, LF or CR; `data` lines join with "\n"; a block without data dispatches nothing;
// `id` sets the last event id (unless it contains NUL); comments are skipped.

/**
 * @typedef {{ type: string, data: string, id: string | undefined, lastEventId: string, retry: number | undefined }} SseEvent
 */

/**
 * The events of an SSE byte stream, in order. Ends when the stream ends; an unfinished last event
 * is dropped (the standard says so).
 * @param {AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>} body
 * @returns {AsyncGenerator<SseEvent>}
 */
export async function* parseSse(body) {
  const decoder = new TextDecoder('utf-8');
  let buffer = '';
  let first = true;
  let data = '';
  let hasData = false;
  let type = '';
  /** @type {string | undefined} */
  let id;
  let lastEventId = '';
  /** @type {number | undefined} */
  let retry;

  /** @param {string} line @returns {SseEvent | undefined} */
  const line = (line) => {
    if (line === '') {
      const event = hasData ? { type: type || 'message', data: data.slice(0, -1), id, lastEventId, retry } : undefined;
      data = '';
      hasData = false;
      type = '';
      id = undefined;
      retry = undefined;
      return event;
    }
    if (line.startsWith(':')) return undefined;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'data') {
      data += `${value}\n`;
      hasData = true;
    } else if (field === 'event') type = value;
    else if (field === 'id' && !value.includes('\u0000')) lastEventId = id = value;
    else if (field === 'retry' && /^\d+$/.test(value)) retry = Number(value);
    return undefined;
  };

  for await (const chunk of iterate(body)) {
    let text = decoder.decode(chunk, { stream: true });
    if (first && text.length) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      first = false;
    }
    buffer += text;
    let start = 0;
    for (;;) {
      const cr = buffer.indexOf('\r', start);
      const lf = buffer.indexOf('\n', start);
      if (cr === -1 && lf === -1) break;
      let end;
      let next;
      if (lf !== -1 && (cr === -1 || lf < cr)) {
        end = lf;
        next = lf + 1;
      } else {
        // A CR at the very end may be the first half of a CRLF still on its way.
        if (cr === buffer.length - 1) break;
        end = cr;
        next = buffer[cr + 1] === '\n' ? cr + 2 : cr + 1;
      }
      const event = line(buffer.slice(start, end));
      start = next;
      if (event) yield event;
    }
    buffer = buffer.slice(start);
  }
}

/**
 * @param {AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>} body
 * @returns {AsyncGenerator<Uint8Array>}
 */
async function* iterate(body) {
  if (Symbol.asyncIterator in body) {
    yield* /** @type {AsyncIterable<Uint8Array>} */ (body);
    return;
  }
  const reader = /** @type {ReadableStream<Uint8Array>} */ (body).getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}
