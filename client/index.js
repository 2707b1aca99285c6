// @tablo/client: Tablo's API from Node 20 or a browser, with no dependency. See README.md.
import { parseSse } from './sse.js';

export { parseSse };

/** An answer of the API other than success (or a stream that cannot go on). */
export class TabloError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.name = 'TabloError';
    this.status = status;
  }
}

const RETRIABLE = new Set([429, 502, 503, 504]);

/**
 * @typedef {import('./index.d.ts').Message} Message
 * @typedef {import('./index.d.ts').Tablo} Tablo
 * @typedef {import('./index.d.ts').StreamItem} StreamItem
 * @typedef {import('./index.d.ts').ClientOptions} ClientOptions
 */

export class TabloClient {
  /** @param {ClientOptions} options */
  constructor({ baseUrl, token, fetch: fetchImpl, maxAttempts = 6, backoff = {} }) {
    if (!baseUrl || !token) throw new TypeError('TabloClient needs a baseUrl and a token');
    this.baseUrl = baseUrl.replace(/\/+$/, '');
    this.token = token;
    this.fetch = fetchImpl ?? globalThis.fetch.bind(globalThis);
    this.maxAttempts = maxAttempts;
    this.backoff = { initialMs: backoff.initialMs ?? 250, maxMs: backoff.maxMs ?? 10_000 };
  }

  /** @returns {Promise<Tablo[]>} */
  async tablos() {
    return (await this.#call('GET', '/tablos')).tablos;
  }

  /**
   * @param {number} tabloId
   * @param {{ after?: number, before?: number, limit?: number }} [page]
   * @returns {Promise<Message[]>}
   */
  async messages(tabloId, { after, before, limit } = {}) {
    const query = new URLSearchParams();
    if (after !== undefined) query.set('after', String(after));
    if (before !== undefined) query.set('before', String(before));
    if (limit !== undefined) query.set('limit', String(limit));
    const qs = query.size ? `?${query}` : '';
    return (await this.#call('GET', `/tablos/${tabloId}/messages${qs}`)).messages;
  }

  /**
   * Posts a message. It carries a client_token (a fresh one unless given), so retrying after a
   * network error, a 429 or a 503 can never store it twice.
   * @param {number} tabloId
   * @param {string} body
   * @param {{ clientToken?: string, replyTo?: number }} [options]
   * @returns {Promise<Message>}
   */
  async post(tabloId, body, { clientToken = globalThis.crypto.randomUUID(), replyTo } = {}) {
    const input = { body, client_token: clientToken, ...(replyTo === undefined ? {} : { reply_to: replyTo }) };
    return (await this.#call('POST', `/tablos/${tabloId}/messages`, input)).message;
  }

  /**
   * @param {number} tabloId
   * @param {number} messageId
   * @param {string} body
   * @returns {Promise<Message>}
   */
  async edit(tabloId, messageId, body) {
    return (await this.#call('PATCH', `/tablos/${tabloId}/messages/${messageId}`, { body })).message;
  }

  /**
   * @param {number} tabloId
   * @param {number} messageId
   * @returns {Promise<void>}
   */
  async delete(tabloId, messageId) {
    await this.#call('DELETE', `/tablos/${tabloId}/messages/${messageId}`, undefined, { goneIsDone: true });
  }

  /**
   * The tablo's events, oldest first, from `after` on: `{seq, type, message}` with seq going up by
   * one, never twice, never a gap. It reconnects by itself (backoff with jitter) and resumes from
   * the last seq it gave (Last-Event-ID). When the server would replay more than 500 events it
   * sends a resync instead: the iterator then gives `{type: 'resync', seq}` — the events up to
   * `seq` are skipped, re-read what you need with `messages()` — and goes on live after it.
   * Aborting `signal`, or leaving the loop, ends it and closes its connection.
   * @param {number} tabloId
   * @param {{ after?: number, signal?: AbortSignal }} [options]
   * @returns {AsyncGenerator<StreamItem>}
   */
  async *events(tabloId, { after = 0, signal } = {}) {
    let cursor = after;
    let failures = 0;
    while (!signal?.aborted) {
      const connection = new AbortController();
      const abort = () => connection.abort();
      signal?.addEventListener('abort', abort, { once: true });
      /** @type {number | undefined} */
      let waitMs;
      try {
        const response = await this.fetch(`${this.baseUrl}/api/v1/tablos/${tabloId}/events?after=${cursor}`, {
          headers: { Authorization: `Bearer ${this.token}`, Accept: 'text/event-stream', 'Last-Event-ID': String(cursor) },
          signal: connection.signal,
          cache: 'no-store',
        });
        if (!response.ok || !response.body) {
          const problem = await errorOf(response);
          if (!RETRIABLE.has(response.status) && response.status < 500) throw problem;
          waitMs = retryAfterMs(response);
        } else {
          for await (const event of parseSse(response.body)) {
            if (event.type === 'resync') {
              cursor = Number(event.id ?? cursor);
              failures = 0;
              yield { type: 'resync', seq: cursor };
            } else if (event.type.startsWith('message.')) {
              const item = JSON.parse(event.data);
              if (item.seq <= cursor) continue;
              cursor = item.seq;
              failures = 0;
              yield item;
            } else if (event.type === 'signed-out') {
              throw new TabloError(401, 'The token was revoked');
            } else if (event.type === 'access-ended') {
              throw new TabloError(404, 'No longer a member of this tablo');
            }
          }
        }
      } catch (error) {
        if (error instanceof TabloError) throw error;
        if (signal?.aborted) return;
        // A dropped connection: reconnect below.
      } finally {
        connection.abort();
        signal?.removeEventListener('abort', abort);
      }
      await sleep(waitMs ?? this.#delay(failures++), signal);
    }
  }

  /** Exponential backoff with full jitter. @param {number} attempt */
  #delay(attempt) {
    const ceiling = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** attempt);
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }

  /**
   * One API call, retried on network errors and on 429/502/503/504 (honouring Retry-After).
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {{ goneIsDone?: boolean }} [options] a 404 after an attempt that may have succeeded counts as done
   */
  async #call(method, path, body, { goneIsDone = false } = {}) {
    let maybeDone = false;
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await this.fetch(`${this.baseUrl}/api/v1${path}`, {
          method,
          headers: { Authorization: `Bearer ${this.token}`, Accept: 'application/json', ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
      } catch (error) {
        if (attempt + 1 >= this.maxAttempts) throw error;
        maybeDone = true;
        await sleep(this.#delay(attempt));
        continue;
      }
      if (response.ok) return response.status === 204 ? undefined : response.json();
      if (response.status === 404 && goneIsDone && maybeDone) return undefined;
      if (RETRIABLE.has(response.status) && attempt + 1 < this.maxAttempts) {
        await response.body?.cancel();
        await sleep(retryAfterMs(response) ?? this.#delay(attempt));
        continue;
      }
      throw await errorOf(response);
    }
  }
}

/** @param {Response} response */
async function errorOf(response) {
  let message = `HTTP ${response.status}`;
  try {
    const body = await response.json();
    if (body && typeof body.error === 'string') message = body.error;
  } catch {
    // not JSON: keep the status
  }
  return new TabloError(response.status, message);
}

/** Retry-After in seconds (or an HTTP date), as milliseconds, at most a minute. @param {Response} response */
function retryAfterMs(response) {
  const value = response.headers.get('Retry-After');
  if (!value) return undefined;
  const seconds = /^\d+$/.test(value) ? Number(value) : (Date.parse(value) - Date.now()) / 1000;
  return Number.isFinite(seconds) ? Math.min(60_000, Math.max(0, seconds * 1000)) : undefined;
}

/**
 * Waits, unless the signal aborts first; leaves no timer behind either way.
 * @param {number} ms
 * @param {AbortSignal} [signal]
 */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(undefined);
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve(undefined);
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
