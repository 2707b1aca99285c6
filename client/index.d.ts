export { parseSse, type SseEvent } from './sse.js';

export type Tablo = { id: number; title: string; last_seq: number };

export type Message = {
  id: number;
  /** The seq of its creation in its tablo. */
  seq: number;
  /** 1 when posted, +1 with every change. */
  version: number;
  author: { id: number; name: string; handle: string };
  /** null once deleted. */
  body: string | null;
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
  reply_to: number | null;
  reactions: { emoji: string; count: number; user_ids: number[] }[];
};

export type ChangeType = 'message.created' | 'message.updated' | 'message.deleted';

/** A change at `seq` of the tablo's log, with the message as it is now. */
export type ChangeEvent = { seq: number; type: ChangeType; message: Message };

/** More than 500 events were skipped: re-read what you need with `messages()`; the stream goes on after `seq`. */
export type Resync = { type: 'resync'; seq: number };

export type StreamItem = ChangeEvent | Resync;

export type ClientOptions = {
  /** Where Tablo runs, e.g. `https://chat.example.com`. */
  baseUrl: string;
  /** An API token: `tablo_…`. */
  token: string;
  /** A fetch to use instead of the global one. */
  fetch?: typeof fetch;
  /** Tries per call (network errors, 429, 502–504); 6 by default. */
  maxAttempts?: number;
  /** Reconnection and retry delays: exponential from `initialMs` up to `maxMs`, with jitter. */
  backoff?: { initialMs?: number; maxMs?: number };
};

export class TabloError extends Error {
  readonly status: number;
  constructor(status: number, message: string);
}

export class TabloClient {
  constructor(options: ClientOptions);
  tablos(): Promise<Tablo[]>;
  messages(tabloId: number, page?: { after?: number; before?: number; limit?: number }): Promise<Message[]>;
  post(tabloId: number, body: string, options?: { clientToken?: string; replyTo?: number }): Promise<Message>;
  edit(tabloId: number, messageId: number, body: string): Promise<Message>;
  delete(tabloId: number, messageId: number): Promise<void>;
  events(tabloId: number, options?: { after?: number; signal?: AbortSignal }): AsyncGenerator<StreamItem, void, undefined>;
}
