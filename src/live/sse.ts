import type { NamedEvent } from './events.ts';

/** Server-Sent Events framing. Each frame is built once and the same bytes go to every reader. */

/** A change event of a tablo's log: its seq, and its frame. */
export type LiveEvent = { seq: number; frame: Buffer };

/** A default-type event (no `event:` line, so htmx swaps it) with the change's seq as its id. */
export function changeFrame(seq: number, html: string): LiveEvent {
  return { seq, frame: Buffer.from(`id: ${seq}\n${dataLines(html)}\n\n`) };
}

/** A named event: htmx turns it into a DOM event and swaps nothing. */
export function namedFrame(event: NamedEvent, data = '', options: { id?: number; retryMs?: number } = {}): string {
  const id = options.id === undefined ? '' : `id: ${options.id}\n`;
  const retry = options.retryMs === undefined ? '' : `retry: ${options.retryMs}\n`;
  return `${retry}${id}event: ${event}\n${dataLines(data)}\n\n`;
}

export const KEEP_ALIVE = ': keep-alive\n\n';

/** The first bytes of every stream: how long a client should wait before reconnecting. */
export const OPENING = 'retry: 2000\n: connected\n\n';

function dataLines(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}`)
    .join('\n');
}
