/**
 * A deliberately small reader for one Socket.IO connection on a raw socket, the counterpart of
 * sse-reader.ts: the HTTP upgrade, WebSocket framing (RFC 6455, server frames unmasked), and of
 * the Engine.IO v4 / Socket.IO v5 packets only what a subscriber needs — answer the handshake
 * (`0{…}` → `40`), answer pings (`2` → `3`), notice the namespace is joined (`40…`), and read the
 * `id` at the start of each `42["message",{"id":N,…}]` event. The rest of a frame is skipped
 * without being copied or parsed as JSON, so that the readers cost the same per message whichever
 * server they read (a full socket.io-client decodes every packet with JSON.parse, which on this
 * machine would make the workers, not the server, the slow part). The warm-up checks the server
 * with the official socket.io-client (bench/lib/measure.ts).
 */
import { randomBytes } from 'node:crypto';
import { requestHead, ResponseHead } from './http-head.ts';
import type { Endpoint } from './protocol.ts';

export type SocketIoHandlers = {
  /** 101 Switching Protocols (or anything else: the connection failed). */
  onHead: (status: number, statusLine: string) => void;
  /** The namespace accepted the connection: from here on it gets broadcasts. */
  onBodyStarted: () => void;
  /** A `message` event with its id, or another event (`event` its name, `id` -1). */
  onFrame: (id: number, event: string, hadData: boolean) => void;
  /** The server closed the connection (WebSocket close, Engine.IO close, Socket.IO disconnect). */
  onEnd: () => void;
  /** An Engine.IO ping: the server's keep-alive. */
  onComment?: () => void;
  /** The namespace refused (CONNECT_ERROR). */
  onRefused: (why: string) => void;
  /** Bytes to write back (the CONNECT packet, pongs). */
  send: (bytes: Buffer) => void;
};

const enum State {
  Head,
  FrameHead,
  Payload,
  Done,
}

/** The HTTP request that opens the WebSocket. */
export function upgradeRequest(endpoint: Endpoint): string {
  return requestHead(
    endpoint,
    `Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\n`,
  );
}

/** A client frame (clients must mask), for the few short packets a subscriber sends. */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  if (payload.length > 125) throw new Error('client frame too long');
  const mask = randomBytes(4);
  const frame = Buffer.allocUnsafe(6 + payload.length);
  frame[0] = 0x80 | opcode;
  frame[1] = 0x80 | payload.length;
  mask.copy(frame, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

const text = (packet: string) => clientFrame(0x1, Buffer.from(packet));
/** How much of a message frame is kept: enough for `42["message",{"id":123456789`. */
const PREFIX = 64;
const MESSAGE_PREFIX = '42["message",{"id":';

export class SocketIoReader {
  private state = State.Head;
  private readonly head = new ResponseHead();
  private header = Buffer.alloc(14);
  private headerHave = 0;
  private headerNeed = 2;
  private opcode = 0;
  private messageOpcode = 0;
  private fin = true;
  private payloadLeft = 0;
  private prefix = '';
  /** A control frame's payload (ping data to echo back). */
  private control = '';

  constructor(private readonly handlers: SocketIoHandlers) {}

  push(buffer: Buffer): void {
    let at = 0;
    const end = buffer.length;
    while (at < end) {
      switch (this.state) {
        case State.Head: {
          const read = this.head.read(buffer, at);
          if (!read) return;
          at = read.bodyAt;
          this.state = read.head.status === 101 ? State.FrameHead : State.Done;
          this.handlers.onHead(read.head.status, read.head.statusLine);
          break;
        }
        case State.FrameHead: {
          while (at < end && this.headerHave < this.headerNeed) {
            this.header[this.headerHave++] = buffer[at++]!;
            if (this.headerHave === 2) {
              if (this.header[1]! & 0x80) throw new Error('masked server frame');
              const length = this.header[1]! & 0x7f;
              this.headerNeed = length === 126 ? 4 : length === 127 ? 10 : 2;
            }
          }
          if (this.headerHave < this.headerNeed) return;
          const length7 = this.header[1]! & 0x7f;
          this.payloadLeft =
            length7 === 126 ? this.header.readUInt16BE(2) : length7 === 127 ? Number(this.header.readBigUInt64BE(2)) : length7;
          this.fin = (this.header[0]! & 0x80) !== 0;
          this.opcode = this.header[0]! & 0x0f;
          // A new message starts its prefix afresh; a continuation adds to it; a control frame
          // (which may come between fragments) keeps its payload apart.
          if (this.opcode !== 0 && this.opcode < 8) {
            this.messageOpcode = this.opcode;
            this.prefix = '';
          }
          this.headerHave = 0;
          this.headerNeed = 2;
          this.state = State.Payload;
          if (this.payloadLeft === 0) this.frameDone();
          break;
        }
        case State.Payload: {
          const take = Math.min(this.payloadLeft, end - at);
          const keep = this.opcode >= 8 ? 125 : PREFIX;
          if (this.opcode >= 8) {
            this.control += buffer.toString('latin1', at, at + Math.min(take, keep - this.control.length));
          } else if (this.prefix.length < keep) {
            this.prefix += buffer.toString('latin1', at, at + Math.min(take, keep - this.prefix.length));
          }
          at += take;
          this.payloadLeft -= take;
          if (this.payloadLeft === 0) this.frameDone();
          break;
        }
        case State.Done:
          return;
      }
    }
  }

  private frameDone(): void {
    this.state = State.FrameHead;
    const opcode = this.opcode;
    const control = this.control;
    this.control = '';
    if (opcode === 0x8) {
      this.state = State.Done;
      this.handlers.onEnd();
      return;
    }
    if (opcode === 0x9) {
      this.handlers.send(clientFrame(0xa, Buffer.from(control, 'latin1')));
      return;
    }
    if (opcode === 0xa || !this.fin) return;
    if (this.messageOpcode === 0x1) this.packet(this.prefix);
  }

  /** One Engine.IO packet (its first bytes). */
  private packet(packet: string): void {
    switch (packet[0]) {
      case '0': // open: join the main namespace
        this.handlers.send(text('40'));
        return;
      case '2': // ping
        this.handlers.send(text('3'));
        this.handlers.onComment?.();
        return;
      case '1': // close
        this.state = State.Done;
        this.handlers.onEnd();
        return;
      case '4': // a Socket.IO packet inside an Engine.IO message
        this.socketIoPacket(packet.slice(1));
        return;
    }
  }

  private socketIoPacket(packet: string): void {
    switch (packet[0]) {
      case '0': // CONNECT answered
        this.handlers.onBodyStarted();
        return;
      case '1': // DISCONNECT
        this.state = State.Done;
        this.handlers.onEnd();
        return;
      case '4': // CONNECT_ERROR
        this.handlers.onRefused(`socket.io CONNECT_ERROR ${packet.slice(1)}`);
        return;
      case '2': {
        // EVENT: ["name", data…]
        if (packet.startsWith(MESSAGE_PREFIX.slice(1))) {
          const digits = /^\d+/.exec(packet.slice(MESSAGE_PREFIX.length - 1))?.[0];
          this.handlers.onFrame(digits ? Number(digits) : -1, '', true);
        } else {
          const name = /^2\["([^"]*)"/.exec(packet)?.[1] ?? '?';
          this.handlers.onFrame(-1, name, true);
        }
        return;
      }
    }
  }
}
