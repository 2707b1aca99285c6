/**
 * A deliberately small reader for one SSE response on a raw socket: the HTTP head, chunked
 * transfer decoding, and of the SSE body only what the benchmark needs — each frame's `id:` and
 * `event:` lines and its end (a blank line). Data lines are skipped without being copied, so a
 * worker can hold thousands of streams and stay cheap per byte.
 */
import { ResponseHead } from './http-head.ts';

const LF = 10;
const CR = 13;

const enum Body {
  Head,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Raw,
  Done,
}

const enum Line {
  Start,
  Skip,
  Collect,
}

export type SseHandlers = {
  /** The status line and headers have arrived. */
  onHead: (status: number, statusLine: string) => void;
  /** Any bytes of the body (the stream is live from here on). */
  onBodyStarted: () => void;
  /** A frame ended: `id` is -1 when it had no `id:` line, `event` is '' for the default type. */
  onFrame: (id: number, event: string, hadData: boolean) => void;
  /** The server ended the body (a zero-size chunk). */
  onEnd: () => void;
  /** A comment line (`: keep-alive`, `: connected`). */
  onComment?: () => void;
};

export class SseReader {
  private state = Body.Head;
  private readonly head = new ResponseHead();
  private chunkLeft = 0;
  private sizeText = '';
  private bodyStarted = false;

  private line = Line.Start;
  private collected = '';
  private frameId = -1;
  private frameEvent = '';
  private frameHasData = false;

  constructor(private readonly handlers: SseHandlers) {}

  push(buffer: Buffer): void {
    let at = 0;
    const end = buffer.length;
    while (at < end) {
      switch (this.state) {
        case Body.Head: {
          const read = this.head.read(buffer, at);
          if (!read) return;
          at = read.bodyAt;
          this.state = /\r\ntransfer-encoding:\s*chunked/i.test(read.head.text) ? Body.ChunkSize : Body.Raw;
          this.handlers.onHead(read.head.status, read.head.statusLine);
          break;
        }
        case Body.ChunkSize: {
          const lf = buffer.indexOf(LF, at);
          const stop = lf === -1 ? end : lf;
          this.sizeText += buffer.toString('latin1', at, stop);
          if (lf === -1) return;
          at = lf + 1;
          const size = Number.parseInt(this.sizeText, 16); // stops at ';' extensions and '\r'
          this.sizeText = '';
          if (!Number.isFinite(size)) throw new Error('bad chunk size');
          if (size === 0) {
            this.state = Body.Done;
            this.handlers.onEnd();
            return;
          }
          this.chunkLeft = size;
          this.state = Body.ChunkData;
          break;
        }
        case Body.ChunkData: {
          const take = Math.min(this.chunkLeft, end - at);
          this.body(buffer, at, at + take);
          at += take;
          this.chunkLeft -= take;
          if (this.chunkLeft === 0) this.state = Body.ChunkEnd;
          break;
        }
        case Body.ChunkEnd: {
          // The CRLF after a chunk's data.
          const byte = buffer[at++];
          if (byte === LF) this.state = Body.ChunkSize;
          else if (byte !== CR) throw new Error('bad chunk end');
          break;
        }
        case Body.Raw:
          this.body(buffer, at, end);
          return;
        case Body.Done:
          return;
      }
    }
  }

  /** SSE lines: only `id:` and `event:` are read; a blank line ends the frame. */
  private body(buffer: Buffer, start: number, end: number): void {
    if (!this.bodyStarted && end > start) {
      this.bodyStarted = true;
      this.handlers.onBodyStarted();
    }
    let at = start;
    while (at < end) {
      if (this.line === Line.Start) {
        const first = buffer[at];
        if (first === LF) {
          this.endFrame();
          at++;
          continue;
        }
        if (first === 0x64 /* d */) {
          this.frameHasData = true;
          this.line = Line.Skip;
        } else if (first === 0x69 /* i */ || first === 0x65 /* e */) {
          this.line = Line.Collect;
          this.collected = '';
        } else {
          if (first === 0x3a /* : */) this.handlers.onComment?.();
          this.line = Line.Skip; // comments, retry:, CR
        }
      }
      let lf = buffer.indexOf(LF, at);
      if (lf >= end) lf = -1;
      const stop = lf === -1 ? end : lf;
      if (this.line === Line.Collect && this.collected.length < 64) this.collected += buffer.toString('latin1', at, stop);
      if (lf === -1) return;
      if (this.line === Line.Collect) this.field(this.collected);
      this.line = Line.Start;
      at = lf + 1;
    }
  }

  private field(text: string): void {
    const line = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (line.startsWith('id:')) {
      const id = Number(line.slice(3).trim());
      this.frameId = Number.isInteger(id) ? id : -1;
    } else if (line.startsWith('event:')) {
      this.frameEvent = line.slice(6).trim();
    }
  }

  private endFrame(): void {
    if (this.frameId !== -1 || this.frameEvent !== '' || this.frameHasData) {
      this.handlers.onFrame(this.frameId, this.frameEvent, this.frameHasData);
    }
    this.frameId = -1;
    this.frameEvent = '';
    this.frameHasData = false;
  }
}
