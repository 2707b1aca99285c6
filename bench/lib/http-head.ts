/**
 * The HTTP/1.1 heads the raw-socket readers (sse-reader.ts, socketio-reader.ts) write and read:
 * one request line and headers out, one status line and headers in. Heads are small and come
 * once per connection, so strings are fine here (the bodies are read without copying).
 */
import type { Endpoint } from './protocol.ts';

/** `GET` of the endpoint's path with its headers, plus `extra` header lines (each ending in CRLF). */
export function requestHead(endpoint: Endpoint, extra: string): string {
  const headers = Object.entries(endpoint.headers)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  return `GET ${endpoint.path} HTTP/1.1\r\nHost: ${endpoint.host}:${endpoint.port}\r\n${extra}${headers}\r\n`;
}

export type Head = { status: number; statusLine: string; text: string };

/** Collects a response head across reads. */
export class ResponseHead {
  private text = '';

  /**
   * Reads `buffer` from `at` to its end: the head and where the body starts in `buffer`, or
   * undefined when the head is not complete yet (everything was taken).
   */
  read(buffer: Buffer, at: number): { head: Head; bodyAt: number } | undefined {
    const before = this.text.length;
    this.text += buffer.toString('latin1', at, buffer.length);
    const blank = this.text.indexOf('\r\n\r\n');
    if (blank === -1) {
      if (this.text.length > 16_384) throw new Error('response head too large');
      return undefined;
    }
    const text = this.text.slice(0, blank);
    this.text = '';
    const lineEnd = text.indexOf('\r\n');
    const statusLine = lineEnd === -1 ? text : text.slice(0, lineEnd);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
    return { head: { status, statusLine, text }, bodyAt: at + blank + 4 - before };
  }
}
