/**
 * The messages between the driver (bench/run.ts) and its subscriber workers
 * (bench/subscriber-worker.ts), over the fork() IPC channel. Plain JSON-able data only.
 */

/** One place a subscriber can open its stream: a server, a path, the headers to send. */
export type Endpoint = {
  host: string;
  port: number;
  path: string;
  /** Sent as is on the request, e.g. `Cookie`. */
  headers: Record<string, string>;
  /**
   * How to read it: an SSE response (the default), or a Socket.IO connection over a WebSocket
   * (`path` is then the engine.io URL, `/socket.io/?EIO=4&transport=websocket&…`).
   */
  protocol?: 'sse' | 'socketio';
  /**
   * Which channel (tablo, topic) this endpoint is, when a run watches several (0..channels-1):
   * message ids are numbered per channel, so each is checked against its own 1..N. 0 by default.
   */
  channel?: number;
};

/** Ids 1..upTo expected: one limit for the one channel, or one per channel. */
export type UpTo = number | number[];

/** Driver → worker. */
export type ToWorker =
  | {
      type: 'open';
      /** Sockets are spread round-robin over these (several sessions, or later several instances). */
      endpoints: Endpoint[];
      /** How many streams this worker opens. */
      count: number;
      /** Offset of this worker's first socket in the global numbering (spreads endpoints evenly). */
      firstIndex: number;
      /** Streams being opened at once by this worker. */
      concurrency: number;
      /** Message ids 1..messages are expected on every stream (per channel). */
      messages: number;
      /** Channels the endpoints belong to (Endpoint.channel); 1 by default. */
      channels?: number;
      /** The local address the sockets bind to (127.0.0.x): each address has only ~28k ports to one destination. */
      localAddress?: string;
      /** Give up on a stream that has not answered within this. */
      openTimeoutMs: number;
    }
  | { type: 'clock'; sentAt: number }
  /** `upTo`: only ids 1..upTo are expected (when fewer than `messages` were sent). */
  | { type: 'status'; upTo?: UpTo }
  | { type: 'collect'; upTo?: UpTo }
  | { type: 'exit' };

export type OpenSummary = {
  opened: number;
  failed: number;
  /** A few distinct failure descriptions (status lines, error codes), for the report. */
  failures: string[];
  ms: number;
};

export type DeliveryReport = {
  streams: number;
  /**
   * Index = message id (0 unused): how many streams got it at least once. With several channels,
   * channel c's id n is at c × (messages + 1) + n (the same layout for firstAt and lastAt).
   */
  receivedBy: number[];
  /** Index = message id: earliest and latest first-receipt time over this worker's streams (ms, epoch-based). NaN when none. */
  firstAt: number[];
  lastAt: number[];
  duplicates: number;
  /** (stream, id) pairs for ids 1..messages never received. */
  missing: number;
  /** An id lower than one already received on the same stream. */
  outOfOrder: number;
  /** Message frames whose id is outside 1..messages. */
  badIds: number;
  /** `event: resync` frames: the server gave up replaying (should never happen here). */
  resyncs: number;
  /** Other named events (presence, activity…): counted, not timed. */
  namedEvents: number;
  /** Streams that ended (closed by the server or errored) before collection. */
  endedEarly: number;
  bytes: number;
  /** Keep-alives received (SSE comment lines; engine.io pings), over all streams. */
  keepAlives: number;
};

/** Worker → driver. */
export type FromWorker =
  | { type: 'ready' }
  | { type: 'opened'; summary: OpenSummary }
  | { type: 'clock'; sentAt: number; workerNow: number }
  | { type: 'status'; delivered: number; expected: number; ended: number; keepAlives: number; open: number }
  | { type: 'report'; report: DeliveryReport }
  | { type: 'fatal'; error: string };
