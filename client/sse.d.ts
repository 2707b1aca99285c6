export type SseEvent = {
  /** `message` unless the event had an `event:` field. */
  type: string;
  data: string;
  /** This event's own `id:` field, if any. */
  id: string | undefined;
  /** The stream's last event id when this event was dispatched. */
  lastEventId: string;
  /** A `retry:` field that came with this event. */
  retry: number | undefined;
};

export function parseSse(body: AsyncIterable<Uint8Array> | ReadableStream<Uint8Array>): AsyncGenerator<SseEvent>;
