import type { NamedEvent } from './events.ts';

/** Server-Sent Events framing. Each frame is built once and the same bytes go to every reader. */

/** How a stream renders change events: HTML fragments for pages, JSON for programs (the API). */
export type StreamFormat = 'html' | 'json';

/** A change in JSON: the event's name (`message.created`…) and its one-line data. */
export type JsonChange = { type: string; data: string };

/**
 * A change event of a tablo's log: its seq, and its frame in each format. Each frame is built
 * once, when a stream of that format first asks, and the same bytes go to every such stream.
 */
export class LiveEvent {
  private readonly frames: Partial<Record<StreamFormat, Buffer>> = {};

  constructor(
    readonly seq: number,
    private readonly render: { html: () => string; json?: () => JsonChange },
  ) {}

  /** The frame for a stream of this format; undefined when the change has no such rendering. */
  frame(format: StreamFormat): Buffer | undefined {
    const built = this.frames[format];
    if (built) return built;
    if (format === 'html') return (this.frames.html = Buffer.from(`id: ${this.seq}\n${dataLines(this.render.html())}\n\n`));
    const json = this.render.json?.();
    if (!json) return undefined;
    return (this.frames.json = Buffer.from(`id: ${this.seq}\nevent: ${json.type}\n${dataLines(json.data)}\n\n`));
  }
}

/** A change event with both renderings (computed lazily: see LiveEvent). */
export function changeEvent(seq: number, render: { html: () => string; json: () => JsonChange }): LiveEvent {
  return new LiveEvent(seq, render);
}

/** A default-type event (no `event:` line, so htmx swaps it) with the change's seq as its id. */
export function changeFrame(seq: number, html: string): LiveEvent {
  return new LiveEvent(seq, { html: () => html });
}

/** A named event: htmx turns it into a DOM event and swaps nothing. */
export function namedFrame(event: NamedEvent, data = '', options: { id?: number; retryMs?: number } = {}): string {
  const id = options.id === undefined ? '' : `id: ${options.id}\n`;
  const retry = options.retryMs === undefined ? '' : `retry: ${options.retryMs}\n`;
  return `${retry}${id}event: ${event}\n${dataLines(data)}\n\n`;
}

/** A Buffer, so that its HTTP chunk is built once (see responseSink). */
export const KEEP_ALIVE = Buffer.from(': keep-alive\n\n');

/** The first bytes of every stream: how long a client should wait before reconnecting. */
export const OPENING = 'retry: 2000\n: connected\n\n';

function dataLines(text: string): string {
  return text
    .split(/\r\n|\r|\n/)
    .map((line) => `data: ${line}`)
    .join('\n');
}
